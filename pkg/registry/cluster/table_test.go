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

package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

func TestConvertToTable(t *testing.T) {
	t.Parallel()
	created := metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))
	kc := clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "prod", CreationTimestamp: created},
		Spec: clusters.ClusterSpec{
			Server:      "https://prod:6443",
			DisplayName: "Prod_Ctx",
			Source: clusters.ClusterSource{Type: clusters.SourceTypeKubeconfig,
				Kubeconfig: &clusters.KubeconfigSource{File: "/etc/fleet.yaml", Context: "Prod_Ctx"}},
		},
		Status: clusters.ClusterStatus{
			Conditions: []metav1.Condition{{Type: clusters.ConditionReady, Status: metav1.ConditionTrue}},
			Version:    &clusters.ClusterVersion{Kubernetes: "v1.37.0"},
		},
	}
	cp := clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "edge"},
		Spec: clusters.ClusterSpec{
			Server: "https://edge",
			Source: clusters.ClusterSource{Type: clusters.SourceTypeClusterProfile,
				ClusterProfile: &clusters.ClusterProfileSource{Namespace: "fleet", Name: "edge"}},
		},
	}
	tests := []struct {
		name string
		obj  runtime.Object
		want [][]interface{}
	}{
		{
			name: "kubeconfig cluster",
			obj:  &kc,
			want: [][]interface{}{{"prod", "kubeconfig", "https://prod:6443", "v1.37.0", "True", "5d", "/etc/fleet.yaml:Prod_Ctx", "Prod_Ctx"}},
		},
		{
			name: "list with a cluster profile and no status",
			obj:  &clusters.ClusterList{Items: []clusters.Cluster{cp}},
			want: [][]interface{}{{"edge", "clusterprofile", "https://edge", "<none>", "Unknown", "<unknown>", "fleet/edge", ""}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := tableConvertor{}.ConvertToTable(t.Context(), tc.obj, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]interface{}
			for _, row := range table.Rows {
				got = append(got, row.Cells)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if len(table.ColumnDefinitions) != len(tc.want[0]) {
				t.Errorf("%d columns for %d cells", len(table.ColumnDefinitions), len(tc.want[0]))
			}
		})
	}
}
