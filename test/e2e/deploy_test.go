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

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestKustomizationListsEveryManifest checks that kubectl apply -k
// artifacts/deploy applies exactly the objects the harness applies from
// its files (which every e2e test runs against), with the image of make
// image.
func TestKustomizationListsEveryManifest(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := env.Kubectl(t.Context(), env.HubKubeconfig, "kustomize", root+"/artifacts/deploy")
	if err != nil {
		t.Fatalf("kubectl kustomize artifacts/deploy: %v: %s", err, stderr)
	}
	var got []string
	image := ""
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		o := &unstructured.Unstructured{}
		if err := d.Decode(&o.Object); err != nil {
			break
		}
		if len(o.Object) == 0 {
			continue
		}
		got = append(got, key(o))
		if o.GetKind() == "Deployment" {
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(containers) > 0 {
				image, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
			}
		}
	}
	files, err := harness.ReadManifests("")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range files {
		want = append(want, key(o))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("kubectl kustomize gives %v; the manifest files hold %v", got, want)
	}
	if image != "ghcr.io/headlamp-k8s/clusters-apiserver:latest" {
		t.Errorf("the Deployment's image is %q, want the :latest tag make image writes", image)
	}
}

func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// TestDeployDryRun applies the whole of artifacts/deploy to the test hub
// with --dry-run=server: the hub validates every object, the Deployment,
// PodDisruptionBudget, NetworkPolicy and CRD included, and stores none.
func TestDeployDryRun(t *testing.T) {
	t.Parallel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := env.Kubectl(t.Context(), env.HubKubeconfig, "apply", "--dry-run=server", "-k", root+"/artifacts/deploy")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server -k artifacts/deploy: %v: %s\n%s", err, stderr, out)
	}
	for _, want := range []string{"deployment.apps/clusters-apiserver", "poddisruptionbudget.policy/clusters-apiserver",
		"networkpolicy.networking.k8s.io/clusters-apiserver", "customresourcedefinition.apiextensions.k8s.io/clusterstates.internal.clusters.headlamp.dev"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run does not mention %s:\n%s", want, out)
		}
	}
}
