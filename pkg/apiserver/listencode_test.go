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

package apiserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// TestPlainJSONList: only lists whose answer the options do not change,
// in compact JSON, take the list encoder. (That its bytes are the generic
// handler's is TestListEncoderMatches, against a real server.)
func TestPlainJSONList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query, accept string
		pretty, want  bool
	}{
		{"", "", false, true},
		{"?resourceVersion=0&limit=500", "application/json", false, true},
		{"?resourceVersion=&timeout=30s", "*/*", false, true},
		{"", "application/json, */*", false, true},
		{"", "", true, false},
		{"?pretty=true", "", false, false},
		{"?labelSelector=a%3Db", "", false, false},
		{"?fieldSelector=metadata.name%3Da", "", false, false},
		{"?resourceVersion=42", "", false, false},
		{"?resourceVersion=0&resourceVersion=0", "", false, false},
		{"?watch=1", "", false, false},
		{"", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", false, false},
		{"", "application/yaml", false, false},
		{"", "application/vnd.kubernetes.protobuf,application/json", false, false},
		{"?%zz", "", false, false},
		{"?limit=abc", "", false, false},
		{"?limit=", "", false, false},
		{"?limit=1.5", "", false, false},
		{"?limit=99999999999999999999", "", false, false},
		{"?limit=1&limit=2", "", false, false},
		{"?limit=-1", "", false, true},
	} {
		req := httptest.NewRequest(http.MethodGet, "/apis/clusters.headlamp.dev/v1alpha1/clusters"+tc.query, http.NoBody)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		if got := plainJSONList(req, tc.pretty); got != tc.want {
			t.Errorf("%q, Accept %q, pretty %v: %v, want %v", tc.query, tc.accept, tc.pretty, got, tc.want)
		}
	}
}

// TestListEncoderReusesItems: a change encodes the changed Cluster alone;
// the list is valid JSON of every Cluster at the inventory's version, and
// forget drops what was kept.
func TestListEncoderReusesItems(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	member := func(name, server string) inventory.Member {
		return inventory.Member{Name: name, Origin: name, Cluster: &clusters.Cluster{Spec: clusters.ClusterSpec{Server: server}}, Access: inventory.Access{Hash: server}}
	}
	inv.Replace("a", []inventory.Member{member("a", "https://a")})
	inv.Replace("b", []inventory.Member{member("b", "https://b")})
	l := newListEncoder(inv)
	decode := func() ([]string, string) {
		t.Helper()
		body, rv, err := l.encode()
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Kind, APIVersion string
			Metadata         metav1.ListMeta
			Items            []struct {
				Kind     string
				Metadata metav1.ObjectMeta
				Spec     struct{ Server string }
			}
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if list.Kind != "ClusterList" || list.APIVersion != "clusters.headlamp.dev/v1alpha1" || list.Metadata.ResourceVersion != rv || rv != inv.ResourceVersion() {
			t.Errorf("list %s %s at %q, encoder says %q, inventory %q", list.Kind, list.APIVersion, list.Metadata.ResourceVersion, rv, inv.ResourceVersion())
		}
		var out []string
		for _, it := range list.Items {
			if it.Kind != "" {
				t.Errorf("item %s has kind %q; items of a list have none", it.Metadata.Name, it.Kind)
			}
			out = append(out, it.Metadata.Name+"="+it.Spec.Server)
		}
		return out, rv
	}
	got, _ := decode()
	if len(got) != 2 || got[0] != "a=https://a" || got[1] != "b=https://b" {
		t.Fatalf("list %v", got)
	}
	objs, _ := inv.List()
	kept := l.items[objs[0]]
	inv.Replace("b", []inventory.Member{member("b", "https://b2")})
	if got, _ = decode(); len(got) != 2 || got[1] != "b=https://b2" {
		t.Fatalf("after a change, list %v", got)
	}
	if now, _ := inv.List(); now[0] != objs[0] || &l.items[now[0]][0] != &kept[0] {
		t.Error("the unchanged Cluster was encoded anew")
	}
	if len(l.items) != 2 {
		t.Errorf("%d encodings kept for 2 Clusters", len(l.items))
	}
	l.forget()
	if l.items != nil {
		t.Error("forget kept encodings")
	}
	inv.Replace("a", nil)
	inv.Replace("b", nil)
	if got, _ = decode(); len(got) != 0 {
		t.Errorf("empty inventory, list %v", got)
	}
}
