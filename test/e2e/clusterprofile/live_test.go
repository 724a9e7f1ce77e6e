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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// ignoreLabel hides a profile with the default --clusterprofile-label-selector.
const ignoreLabel = "clusters.headlamp.dev/ignore"

// testLiveChanges: every change to a profile reaches an informer and
// kubectl -w as a watch event, and leaving the label selector is a
// deletion.
func testLiveChanges(t *testing.T) {
	const name, cluster = "e2e-live", "cp.fleet.e2e-live"
	ws := watchers(t)
	live := profiles(t, harness.ProfileNamespace)
	patch := func(body string, subresources ...string) func(t *testing.T) {
		return func(t *testing.T) {
			if _, err := live.Patch(t.Context(), name, types.MergePatchType, []byte(body), metav1.PatchOptions{}, subresources...); err != nil {
				t.Fatal(err)
			}
		}
	}
	selects := func(manager, want string) {
		t.Helper()
		if got := env.HubKubectl(t, "get", "clusters", "-l", cpv1alpha1.LabelClusterManagerKey+"="+manager, "-o", "name"); got != want {
			t.Errorf("kubectl get clusters -l %s=%s: %q, want %q", cpv1alpha1.LabelClusterManagerKey, manager, got, want)
		}
	}

	steps := []struct {
		name   string
		change func(t *testing.T)
		want   string // the line every watcher must print
		then   func()
	}{
		{"create", func(t *testing.T) {
			cp := env.MemberProfile(1, harness.ProfileNamespace, name)
			cp.Labels[cpv1alpha1.LabelClusterManagerKey] = "e2e-a"
			applyProfile(t, cp, true)
		}, "ADDED " + cluster + " manager=e2e-a props=", nil},
		{"status patch", patch(`{"status":{"properties":[{"name":"step","value":"patched","lastObservedTime":"2026-01-01T00:00:00Z"}]}}`, "status"),
			"MODIFIED " + cluster + " manager=e2e-a props=step=patched", nil},
		{"relabel", patch(`{"metadata":{"labels":{"x-k8s.io/cluster-manager":"e2e-b"}}}`),
			"MODIFIED " + cluster + " manager=e2e-b props=step=patched", func() {
				selects("e2e-b", "cluster.clusters.headlamp.dev/"+cluster+"\n")
				selects("e2e-a", "")
			}},
		{"ignored", patch(`{"metadata":{"labels":{"` + ignoreLabel + `":"true"}}}`), "DELETED " + cluster + " ", nil},
		{"no longer ignored", patch(`{"metadata":{"labels":{"` + ignoreLabel + `":null}}}`), "ADDED " + cluster + " manager=e2e-b", nil},
		{"delete", func(t *testing.T) { deleteProfile(t, harness.ProfileNamespace, name) }, "DELETED " + cluster + " ", nil},
	}
	for _, step := range steps {
		m := marks(ws)
		step.change(t)
		waitEvent(t, ws, m, step.want)
		if step.then != nil {
			step.then()
		}
	}
}

// testSelection: only profiles in --clusterprofile-namespaces that match
// --clusterprofile-label-selector are served.
func testSelection(t *testing.T) {
	profiles := []struct {
		namespace, name string
		labels          map[string]string
		served          bool
	}{
		{namespace: "outside", name: "e2e-outside"},
		{namespace: harness.ProfileNamespace, name: "e2e-ignored", labels: map[string]string{ignoreLabel: "true"}},
		{namespace: harness.ProfileNamespace, name: "e2e-ignore-false", labels: map[string]string{ignoreLabel: "false"}, served: true},
		{namespace: teamNamespace, name: "e2e-team", served: true},
	}
	for _, p := range profiles {
		cp := env.MemberProfile(0, p.namespace, p.name)
		for k, v := range p.labels {
			cp.Labels[k] = v
		}
		applyProfile(t, cp, true)
	}
	// Served ones appear; by then the others would have too.
	for _, p := range profiles {
		if p.served {
			waitCluster(t, "cp."+p.namespace+"."+p.name, nil)
		}
	}
	names := clusterNames(t)
	for _, p := range profiles {
		if listed := strings.Contains(names, "/cp."+p.namespace+"."+p.name+"\n"); listed != p.served {
			t.Errorf("%s/%s listed = %v, want %v:\n%s", p.namespace, p.name, listed, p.served, names)
		}
	}
}
