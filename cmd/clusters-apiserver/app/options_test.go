/*
Copyright The Headlamp Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package app

import (
	"strings"
	"testing"
)

// TestValidate checks the flags that protect credentials: each refusal
// names the flag.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // empty: valid
	}{
		{name: "kubeconfig source", args: []string{"--kubeconfig-source=/k"}},
		{name: "ClusterProfiles without namespaces", args: []string{"--clusterprofile-source", "--clusterprofile-provider-file=/p"},
			wantErr: "--clusterprofile-source needs --clusterprofile-namespaces"},
		{name: "ClusterProfiles in listed namespaces", args: []string{"--clusterprofile-source", "--clusterprofile-provider-file=/p", "--clusterprofile-namespaces=fleet,team"}},
		{name: "ClusterProfiles in every namespace, explicitly", args: []string{"--clusterprofile-source", "--clusterprofile-provider-file=/p", "--clusterprofile-namespaces=*"}},
		{name: "* with others", args: []string{"--clusterprofile-source", "--clusterprofile-provider-file=/p", "--clusterprofile-namespaces=*,fleet"},
			wantErr: "--clusterprofile-namespaces: '*'"},
		{name: "no plugin time limit", args: []string{"--kubeconfig-source=/k", "--credential-plugin-timeout=0"}, wantErr: "--credential-plugin-timeout must be positive"},
		{name: "deprecated plugin time limit flag", args: []string{"--kubeconfig-source=/k", "--clusterprofile-exec-timeout=0"}, wantErr: "--credential-plugin-timeout must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			fs := o.Flags()
			for _, f := range fs.FlagSets {
				f.SetOutput(new(strings.Builder))
			}
			for _, arg := range tc.args {
				name, value, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
				set := false
				for _, f := range fs.FlagSets {
					if f.Lookup(name) != nil {
						if value == "" && f.Lookup(name).Value.Type() == "bool" {
							value = "true"
						}
						if err := f.Set(name, value); err != nil {
							t.Fatalf("--%s=%s: %v", name, value, err)
						}
						set = true
					}
				}
				if !set {
					t.Fatalf("no flag --%s", name)
				}
			}
			var msgs []string
			for _, err := range o.Validate() {
				msgs = append(msgs, err.Error())
			}
			got := strings.Join(msgs, "; ")
			if tc.wantErr == "" && got != "" || tc.wantErr != "" && !strings.Contains(got, tc.wantErr) {
				t.Errorf("Validate = %q, want %q", got, tc.wantErr)
			}
		})
	}
}
