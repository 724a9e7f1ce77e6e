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
	"fmt"
	"strings"
	"testing"
)

// TestValidate checks the flags that protect credentials: each refusal
// names the flag.
func TestValidate(t *testing.T) {
	t.Parallel()
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
		{name: "negative proxy limit", args: []string{"--kubeconfig-source=/k", "--proxy-max-streams-per-user=-1"}, wantErr: "--proxy-max-streams-per-user must be 0 (no limit) or positive"},
		{name: "deprecated plugin time limit flag", args: []string{"--kubeconfig-source=/k", "--clusterprofile-exec-timeout=0"}, wantErr: "--credential-plugin-timeout must be positive"},
		{name: "no source", args: nil, wantErr: "no source of clusters"},
		{name: "ClusterProfiles without a provider file", args: []string{"--clusterprofile-source", "--clusterprofile-namespaces=fleet"},
			wantErr: "--clusterprofile-source needs --clusterprofile-provider-file"},
		{name: "bad label selector", args: []string{"--clusterprofile-source", "--clusterprofile-provider-file=/p", "--clusterprofile-namespaces=fleet", "--clusterprofile-label-selector=a in (b"},
			wantErr: "--clusterprofile-label-selector"},
		{name: "unknown identity mode", args: []string{"--kubeconfig-source=/k", "--proxy-identity=root"}, wantErr: `proxy identity "root" is not`},
		{name: "identity of a path that is no source", args: []string{"--kubeconfig-source=/k", "--kubeconfig-source-identity=/other=source"},
			wantErr: `--kubeconfig-source-identity names "/other"`},
		{name: "poll interval too short", args: []string{"--kubeconfig-source=/k", "--kubeconfig-source-poll-interval=10ms"},
			wantErr: "--kubeconfig-source-poll-interval must be at least 100ms"},
		{name: "no dial time limit", args: []string{"--kubeconfig-source=/k", "--proxy-dial-timeout=0"}, wantErr: "--proxy-dial-timeout must be positive"},
		{name: "no health check time limit", args: []string{"--kubeconfig-source=/k", "--health-probe-timeout=0"}, wantErr: "--health-probe-timeout must be positive"},
		{name: "no health workers", args: []string{"--kubeconfig-source=/k", "--health-probe-workers=0"}, wantErr: "--health-probe-workers must be positive"},
		{name: "max interval below interval", args: []string{"--kubeconfig-source=/k", "--health-probe-interval=1m", "--health-probe-max-interval=30s"},
			wantErr: "--health-probe-max-interval (30s) must be at least --health-probe-interval (1m0s)"},
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

// TestDefaults pins the defaults the flags take from each package, so that
// a changed default is a visible decision.
func TestDefaults(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	got := fmt.Sprintf("%+v %+v %+v %s %s %s %s %v", o.Health, o.ProxyTimeouts, o.ProxyIdentityMapping, o.ProxyIdentity,
		o.ClusterProfiles.LabelSelector, o.ClusterProfiles.CheckInterval, o.KubeconfigPollInterval, o.Features.EnablePriorityAndFairness)
	want := "{Interval:15s MaxInterval:2m0s Timeout:5s Workers:16 MaxRate:100} " +
		"{Dial:10s TLSHandshake:10s ResponseHeader:1m0s CredentialPlugin:30s} " +
		"{UserPrefix: GroupPrefix: DropGroups:[system:masters kubeadm:cluster-admins]} impersonate " +
		"clusters.headlamp.dev/ignore!=true 10s 1s false"
	if got != want {
		t.Errorf("defaults:\n got %s\nwant %s", got, want)
	}
	if errs := o.Validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "no source of clusters") {
		t.Errorf("Validate of the defaults = %v, want only the missing source", errs)
	}
}
