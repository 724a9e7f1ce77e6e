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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/discovery"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"

	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

func TestAPIServiceAndDiscovery(t *testing.T) {
	cfg, err := env.HubRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	as, err := aggregator.NewForConfigOrDie(cfg).ApiregistrationV1().APIServices().Get(t.Context(), "v1alpha1.clusters.headlamp.dev", metav1GetOptions)
	if err != nil {
		t.Fatal(err)
	}
	available := false
	for _, c := range as.Status.Conditions {
		available = available || (c.Type == apiregistrationv1.Available && c.Status == apiregistrationv1.ConditionTrue)
	}
	if !available || as.Spec.InsecureSkipTLSVerify || len(as.Spec.CABundle) == 0 {
		t.Errorf("APIService: available=%v insecure=%v caBundle=%d bytes", available, as.Spec.InsecureSkipTLSVerify, len(as.Spec.CABundle))
	}

	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	resources, err := dc.ServerResourcesForGroupVersion("clusters.headlamp.dev/v1alpha1")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var got []string
	for _, r := range resources.APIResources {
		got = append(got, r.Name+" "+r.SingularName+" "+r.Kind+" "+strings.Join(r.Verbs, ",")+" namespaced="+boolString(r.Namespaced))
	}
	want := []string{
		"clusters cluster Cluster get,list,watch namespaced=false",
		"clusters/proxy  ClusterProxyOptions create,delete,get,patch,update namespaced=false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
}

func TestKubectl(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // every one must appear
		notWant []string // none may appear
	}{
		{
			name: "get",
			args: []string{"get", "clusters"},
			want: []string{"NAME", "SOURCE", "SERVER", "VERSION", "READY", "AGE", "member-1", "member-2", "kubeconfig", env.Members[0].URL},
		},
		{
			name:    "wide",
			args:    []string{"get", "clusters", "-o", "wide"},
			want:    []string{"ORIGIN", "DISPLAY NAME", env.MembersKubeconfig + ":member-1"},
			notWant: []string{"token"},
		},
		{
			name:    "yaml",
			args:    []string{"get", "cluster", "member-1", "-o", "yaml"},
			want:    []string{"kind: Cluster", "apiVersion: clusters.headlamp.dev/v1alpha1", "server: " + env.Members[0].URL, "type: Ready", "clusters.headlamp.dev/source: kubeconfig"},
			notWant: []string{"token", "client-key", "BEGIN"},
		},
		{
			name: "label selector",
			args: []string{"get", "clusters", "-l", "clusters.headlamp.dev/source=kubeconfig", "-o", "name"},
			want: []string{"cluster.clusters.headlamp.dev/member-1", "cluster.clusters.headlamp.dev/member-2"},
		},
		{
			name:    "label selector matching nothing",
			args:    []string{"get", "clusters", "-l", "clusters.headlamp.dev/source=clusterprofile", "-o", "name"},
			notWant: []string{"member-1"},
		},
		{
			name:    "field selector",
			args:    []string{"get", "clusters", "--field-selector", "metadata.name=member-2", "-o", "name"},
			want:    []string{"cluster.clusters.headlamp.dev/member-2"},
			notWant: []string{"member-1"},
		},
		{
			name: "explain",
			args: []string{"explain", "clusters.spec"},
			want: []string{"KIND:       Cluster", "server\t<string> -required-", "Server is the URL of the member cluster's API server", "displayName"},
		},
		{
			name: "explain status",
			args: []string{"explain", "clusters.status.conditions"},
			want: []string{"Conditions describe the cluster's state. Ready is True"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out string
			if tc.args[0] == "explain" {
				// The hub aggregates a new APIService's OpenAPI document
				// asynchronously, shortly after it becomes available.
				harness.Eventually(t, 90*time.Second, "kubectl explain finds clusters", func() (bool, string) {
					var err error
					out, err = kubectlAs(env.HubKubeconfig, tc.args...)
					return err == nil, out
				})
			} else {
				out = env.HubKubectl(t, tc.args...)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("kubectl %s: output has %q:\n%s", strings.Join(tc.args, " "), w, out)
				}
			}
		})
	}
}

func TestKubectlWritesAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"delete", "cluster", "member-1"},
		{"label", "cluster", "member-1", "x=y"},
		{"annotate", "cluster", "member-1", "x=y"},
	} {
		out, err := kubectlAs(env.HubKubeconfig, args...)
		if err == nil || !strings.Contains(out, "MethodNotAllowed") && !strings.Contains(out, "not allowed") && !strings.Contains(out, "405") {
			t.Errorf("kubectl %s = %v, %q; want a 405 MethodNotAllowed", strings.Join(args, " "), err, out)
		}
	}
	// Nothing changed.
	if out := env.HubKubectl(t, "get", "cluster", "member-1", "-o", "jsonpath={.metadata.labels}"); strings.Contains(out, "x") {
		t.Errorf("member-1 labels changed: %s", out)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
