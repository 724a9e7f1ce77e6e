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

package e2e

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var metav1GetOptions = metav1.GetOptions{}

var readClusters = rbacv1.PolicyRule{APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters"}, Verbs: []string{"get", "list", "watch"}}

// TestHubRBACDecides checks that the hub's RBAC, not clusters-apiserver,
// decides who sees what, and that kubectl auth can-i agrees with what
// actually happens.
func TestHubRBACDecides(t *testing.T) {
	viewer := mustUser(t, "e2e-viewer")
	nobody := mustUser(t, "e2e-nobody")
	onlyOne := mustUser(t, "e2e-only-member-1")

	bindClusterRole(t, "e2e-viewer", "e2e-viewer", readClusters)
	oneRule := readClusters
	oneRule.ResourceNames = []string{"member-1"}
	bindClusterRole(t, "e2e-only-member-1", "e2e-only-member-1", oneRule)

	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		allowed    bool
		canI       []string // kubectl auth can-i arguments for the same access
	}{
		{"viewer lists", viewer, []string{"get", "clusters"}, true, []string{"list", "clusters.clusters.headlamp.dev"}},
		{"viewer gets", viewer, []string{"get", "cluster", "member-2"}, true, []string{"get", "clusters.clusters.headlamp.dev/member-2"}},
		{"nobody lists", nobody, []string{"get", "clusters"}, false, []string{"list", "clusters.clusters.headlamp.dev"}},
		{"nobody gets", nobody, []string{"get", "cluster", "member-1"}, false, []string{"get", "clusters.clusters.headlamp.dev/member-1"}},
		{"resourceNames: the named cluster", onlyOne, []string{"get", "cluster", "member-1"}, true, []string{"get", "clusters.clusters.headlamp.dev/member-1"}},
		{"resourceNames: another cluster", onlyOne, []string{"get", "cluster", "member-2"}, false, []string{"get", "clusters.clusters.headlamp.dev/member-2"}},
		{"resourceNames: the whole list", onlyOne, []string{"get", "clusters"}, false, []string{"list", "clusters.clusters.headlamp.dev"}},
		// A list of the named cluster alone is authorized as that name, and
		// must not be answered with the whole list the viewer's kubectl
		// left in the server's list cache.
		{"resourceNames: a list selecting the named cluster", onlyOne, []string{"get", "clusters", "--field-selector", "metadata.name=member-1", "-o", "name"}, true, []string{"list", "clusters.clusters.headlamp.dev/member-1"}},
	}
	// In order: the viewer's list comes first, so the lists refused after
	// it meet a server whose list cache holds the same kubectl request.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kubectlAs(tc.kubeconfig, tc.args...)
			if tc.allowed && err != nil {
				t.Errorf("kubectl %s: %v", strings.Join(tc.args, " "), err)
			}
			if slices.Contains(tc.args, "--field-selector") && err == nil && strings.TrimSpace(out) != "cluster.clusters.headlamp.dev/member-1" {
				t.Errorf("kubectl %s = %q, want member-1 alone", strings.Join(tc.args, " "), out)
			}
			if !tc.allowed && (err == nil || !strings.Contains(out, "Forbidden") && !strings.Contains(err.Error(), "forbidden")) {
				t.Errorf("kubectl %s = %v, %q; want 403 Forbidden", strings.Join(tc.args, " "), err, out)
			}
			// can-i exits 1 for "no"; its answer is the first line of stdout.
			canI, _, _ := env.Kubectl(t.Context(), tc.kubeconfig, append([]string{"auth", "can-i"}, tc.canI...)...)
			want := "no"
			if tc.allowed {
				want = "yes"
			}
			if got := strings.TrimSpace(canI); got != want {
				t.Errorf("kubectl auth can-i %s = %q, but the request was allowed=%v", strings.Join(tc.canI, " "), got, tc.allowed)
			}
		})
	}
}

func mustUser(t *testing.T, name string, groups ...string) string {
	t.Helper()
	path, err := env.UserKubeconfig(name, groups...)
	if err != nil {
		t.Fatal(err)
	}
	return path
}
