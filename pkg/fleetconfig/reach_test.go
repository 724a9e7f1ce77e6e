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

package fleetconfig

import (
	"slices"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
)

func TestReach(t *testing.T) {
	rule := func(groups, resources, verbs, names []string) authorizationv1.ResourceRule {
		return authorizationv1.ResourceRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
	}
	for _, tc := range []struct {
		name  string
		rules []authorizationv1.ResourceRule
		want  map[string][]string
	}{
		{"nothing", nil, map[string][]string{"a": nil}},
		{"list clusters only", []authorizationv1.ResourceRule{rule([]string{Group}, []string{"clusters"}, []string{"get", "list"}, nil)}, map[string][]string{"a": nil}},
		{"every proxy", []authorizationv1.ResourceRule{rule([]string{Group}, []string{"clusters/proxy"}, []string{"get", "create"}, nil)}, map[string][]string{"a": {"get", "create"}, "b": {"get", "create"}}},
		{"one by name, get only", []authorizationv1.ResourceRule{rule([]string{Group}, []string{"clusters/proxy"}, []string{"get"}, []string{"a"})}, map[string][]string{"a": {"get"}, "b": nil}},
		{"admin", []authorizationv1.ResourceRule{rule([]string{"*"}, []string{"*"}, []string{"*"}, nil)}, map[string][]string{"a": {"get", "create"}}},
		{"any resource's proxy", []authorizationv1.ResourceRule{rule([]string{Group}, []string{"*/proxy"}, []string{"get"}, nil)}, map[string][]string{"a": {"get"}}},
		{"another group", []authorizationv1.ResourceRule{rule([]string{""}, []string{"clusters/proxy"}, []string{"*"}, nil)}, map[string][]string{"a": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReach(tc.rules)
			for name, want := range tc.want {
				if got := r.Verbs(name); !slices.Equal(got, want) {
					t.Errorf("%s: %v; want %v", name, got, want)
				}
			}
		})
	}
}
