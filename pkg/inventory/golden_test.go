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

package inventory

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// TestNamesArePinned pins the names of Clusters, literally. A change of
// hash or of the naming rules silently renames clusters and moves RBAC
// resourceNames grants with them: if this test fails, that is what the
// change does to users.
func TestNamesArePinned(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"kind-dev":                         "kind-dev",
		"Prod":                             "prod-5f56359e",
		"gke_my-project_europe-west1_prod": "gke-my-project-europe-west1-prod-6604e471",
		"arn:aws:eks:us-east-1:123456789012:cluster/prod": "arn-aws-eks-us-east-1-123456789012-cluster-prod-53f31a82",
		"admin@kind-dev":         "admin-kind-dev-0c4b8a0b",
		"@@@":                    "cluster-2ec847d8",
		"":                       "cluster-e3b0c442",
		"cp.fleet.prod":          "cp-fleet-prod-0761f675",
		strings.Repeat("A", 300): strings.Repeat("a", 244) + "-4daeb9ac",
	} {
		if got := ObjectName(raw); got != want {
			t.Errorf("ObjectName(%.40q) = %q, want %q", raw, got, want)
		}
	}

	// A collision: the member of the lower priority keeps the name, the
	// other gets a suffix from its origin.
	inv := New()
	member := func(origin string, priority int) Member {
		return Member{Name: "prod", Origin: origin, Priority: priority, Access: Access{Config: &rest.Config{Host: "https://x"}, Hash: origin}}
	}
	inv.Replace("a", []Member{member("kubeconfig:/d/a:prod", 0)})
	inv.Replace("b", []Member{member("kubeconfig:/d/a.yaml:prod", 1)})
	for name, origin := range map[string]string{"prod": "kubeconfig:/d/a:prod", "prod-a18be20a": "kubeconfig:/d/a.yaml:prod"} {
		if access, ok := inv.Access(name); !ok || access.Hash != origin {
			t.Errorf("cluster %q is %q (found %v), want the member of %s", name, access.Hash, ok, origin)
		}
	}
}
