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

package clusterprofile

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestNamesArePinned pins the names of Clusters from ClusterProfiles,
// literally: a change renames clusters and moves RBAC resourceNames grants
// with them.
func TestNamesArePinned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ namespace, name, want string }{
		{"fleet", "prod", "cp.fleet.prod"},
		{"ns", strings.Repeat("n", 250), "cp.ns." + strings.Repeat("n", 238) + "-1cf29e84"},
	} {
		if got := Name(tc.namespace, tc.name); got != tc.want {
			t.Errorf("Name(%q, %.20q) = %q, want %q", tc.namespace, tc.name, got, tc.want)
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 250)
	tests := []struct {
		namespace, name, want string
	}{
		{"fleet", "prod", "cp.fleet.prod"},
		{"fleet", "prod.eu", "cp.fleet.prod.eu"},
		{"fleet-prod", "eu", "cp.fleet-prod.eu"},
		{"ns", long, "cp.ns." + strings.Repeat("n", 238) + "-1cf29e84"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		got := Name(tc.namespace, tc.name)
		if got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.namespace, tc.name, got, tc.want)
		}
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("Name(%q, %q) = %q: %v", tc.namespace, tc.name, got, errs)
		}
		if seen[got] {
			t.Errorf("ProfileName collision on %q", got)
		}
		seen[got] = true
	}
}
