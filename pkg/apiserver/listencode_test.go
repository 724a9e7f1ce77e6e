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
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	clusterstorage "github.com/headlamp-k8s/clusters-apiserver/pkg/registry/cluster"
)

// TestPlainList: only lists whose answer the options do not change, in
// compact JSON, take the list encoder: a ClusterList, or kubectl's Table.
// (That its bytes are the generic handler's is TestListEncoderMatches,
// against a real server.)
func TestPlainList(t *testing.T) {
	t.Parallel()
	const kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	for _, tc := range []struct {
		query, accept string
		pretty        bool
		want          listForm
	}{
		{"", "", false, jsonList},
		{"?resourceVersion=0&limit=500", "application/json", false, jsonList},
		{"?resourceVersion=&timeout=30s", "*/*", false, jsonList},
		{"", "application/json, */*", false, jsonList},
		{"", "", true, generic},
		{"?pretty=true", "", false, generic},
		{"?labelSelector=a%3Db", "", false, generic},
		{"?fieldSelector=metadata.name%3Da", "", false, generic},
		{"?resourceVersion=42", "", false, generic},
		{"?resourceVersion=0&resourceVersion=0", "", false, generic},
		{"?watch=1", "", false, generic},
		{"?limit=500", kubectl, false, tableList},
		{"", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", false, tableList},
		{"", "application/json;as=Table;v=v1;g=meta.k8s.io", false, tableList},
		{"", kubectl, true, generic},
		{"?includeObject=Object", kubectl, false, generic},
		{"?includeObject=Metadata", kubectl, false, generic},
		{"?labelSelector=a%3Db", kubectl, false, generic},
		{"", "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", false, generic},
		{"", "application/yaml;as=Table;v=v1;g=meta.k8s.io", false, generic},
		{"", "application/json;as=Table;v=v1;g=meta.k8s.io, application/json", false, generic},
		{"", "application/yaml", false, generic},
		{"", "application/vnd.kubernetes.protobuf,application/json", false, generic},
		{"?%zz", "", false, generic},
		{"?limit=abc", "", false, generic},
		{"?limit=abc", kubectl, false, generic},
		{"?limit=", "", false, generic},
		{"?limit=1.5", "", false, generic},
		{"?limit=99999999999999999999", "", false, generic},
		{"?limit=1&limit=2", "", false, generic},
		{"?limit=-1", "", false, jsonList},
	} {
		req := httptest.NewRequest(http.MethodGet, "/apis/clusters.headlamp.dev/v1alpha1/clusters"+tc.query, http.NoBody)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		if got := plainList(req, tc.pretty); got != tc.want {
			t.Errorf("%q, Accept %q, pretty %v: %v, want %v", tc.query, tc.accept, tc.pretty, got, tc.want)
		}
	}
}

// testMember is a member named name whose Cluster's server is server.
func testMember(name, server string) inventory.Member {
	return inventory.Member{Name: name, Origin: name, Cluster: &clusters.Cluster{Spec: clusters.ClusterSpec{Server: server}}, Access: inventory.Access{Hash: server}}
}

// TestListEncoderReusesItems: a change encodes the changed Cluster alone;
// the list is valid JSON of every Cluster at the inventory's version, and
// forget drops what was kept.
func TestListEncoderReusesItems(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	inv.Replace("a", []inventory.Member{testMember("a", "https://a")})
	inv.Replace("b", []inventory.Member{testMember("b", "https://b")})
	l := newListEncoder(inv)
	decode := func() ([]string, string) {
		t.Helper()
		lb, rv, err := l.encode()
		if err != nil {
			t.Fatal(err)
		}
		body := lb.bytes()
		if len(body) != lb.size {
			t.Errorf("a list of %d bytes says it has %d", len(body), lb.size)
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
	if l.encoded != 2 {
		t.Errorf("%d Clusters encoded for 2", l.encoded)
	}
	inv.Replace("b", []inventory.Member{testMember("b", "https://b2")})
	if got, _ = decode(); len(got) != 2 || got[1] != "b=https://b2" {
		t.Fatalf("after a change, list %v", got)
	}
	if l.encoded != 3 {
		t.Errorf("%d Clusters encoded after one changed, want 3: the unchanged one was encoded anew", l.encoded)
	}
	if len(l.items) != 2 {
		t.Errorf("%d encodings kept for 2 Clusters", len(l.items))
	}
	// The list is made of the encodings kept, not copies of them.
	lb, _, err := l.encode()
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := inv.List()
	for i, obj := range objs {
		if kept := l.items[obj]; &lb.parts[i][0] != &kept[0] {
			t.Errorf("the list holds a copy of the encoding of %s", obj.Name)
		}
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

// TestListEncoderReusesRows: a Table's rows are kept per Cluster, a change
// encodes the changed Cluster's alone, and each Age is the one at the time
// asked for, which is not kept.
func TestListEncoderReusesRows(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	inv.Replace("a", []inventory.Member{testMember("a", "https://a")})
	inv.Replace("b", []inventory.Member{testMember("b", "https://b")})
	l := newListEncoder(inv)
	decode := func(now time.Time) [][]any {
		t.Helper()
		table, rv := encodedTable(t, l, now)
		if table.Kind != "Table" || table.APIVersion != "meta.k8s.io/v1" || table.ResourceVersion != rv || rv != inv.ResourceVersion() || len(table.ColumnDefinitions) != 8 {
			t.Errorf("Table %s %s at %q with %d columns, encoder says %q, inventory %q", table.Kind, table.APIVersion, table.ResourceVersion, len(table.ColumnDefinitions), rv, inv.ResourceVersion())
		}
		var rows [][]any
		for _, r := range table.Rows {
			var partial metav1.PartialObjectMetadata
			if err := json.Unmarshal(r.Object.Raw, &partial); err != nil || partial.Kind != "PartialObjectMetadata" || partial.Name != r.Cells[0] {
				t.Errorf("row %v: object %s (%v)", r.Cells, r.Object.Raw, err)
			}
			rows = append(rows, r.Cells)
		}
		return rows
	}
	objs, _ := inv.List()
	created := objs[0].CreationTimestamp.Time
	rows := decode(created.Add(90 * time.Second))
	if len(rows) != 2 || rows[0][0] != "a" || rows[0][2] != "https://a" || rows[0][5] != "90s" || rows[1][0] != "b" || len(rows[1]) != 8 {
		t.Fatalf("rows %v", rows)
	}
	if l.encoded != 2 {
		t.Errorf("%d rows encoded for 2", l.encoded)
	}
	inv.Replace("b", []inventory.Member{testMember("b", "https://b2")})
	rows = decode(created.Add(3 * time.Hour))
	if len(rows) != 2 || rows[0][5] != "3h" || rows[1][2] != "https://b2" {
		t.Fatalf("after a change and 3 hours, rows %v", rows)
	}
	if rows = decode(created.Add(50*24*time.Hour + time.Minute)); len(rows) != 2 || rows[0][5] != "50d" || rows[1][5] != "50d" {
		t.Fatalf("at the same version 50 days later, rows %v", rows)
	}
	if l.encoded != 3 {
		t.Errorf("%d rows encoded after one Cluster changed, want 3: the unchanged one was encoded anew", l.encoded)
	}
	// The Table is made of the rows kept, not copies of them.
	lb, _, err := l.encodeTable(created.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if body := lb.bytes(); len(body) != lb.size {
		t.Errorf("a Table of %d bytes says it has %d", len(body), lb.size)
	}
	objs, _ = inv.List()
	for i, obj := range objs {
		r := l.rows[obj]
		if &lb.parts[3*i][0] != &r.before[0] || &lb.parts[3*i+2][0] != &r.after[0] {
			t.Errorf("the Table holds a copy of the row of %s", obj.Name)
		}
		if cap(r.before) != len(r.before) || cap(r.after) != len(r.after) {
			t.Errorf("the row of %s keeps room to grow", obj.Name)
		}
	}
	if len(l.rows) != 2 {
		t.Errorf("%d rows kept for 2 Clusters", len(l.rows))
	}
	l.forget()
	if l.rows != nil {
		t.Error("forget kept rows")
	}
}

// encodedTable returns the Table l writes at now, decoded, and the
// resourceVersion l gives it.
func encodedTable(t *testing.T, l *listEncoder, now time.Time) (metav1.Table, string) {
	t.Helper()
	lb, rv, err := l.encodeTable(now)
	if err != nil {
		t.Fatal(err)
	}
	body := lb.bytes()
	if len(body) != lb.size {
		t.Errorf("a Table of %d bytes says it has %d", len(body), lb.size)
	}
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return table, rv
}

// TestListEncoderAges: each Age is the one the generic handler computes
// for its own Cluster, for Clusters created within one second whose ages
// differ by a second at the time asked for, and for ages in every unit.
func TestListEncoderAges(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	offsets := []time.Duration{100 * time.Millisecond, 900 * time.Millisecond, 1100 * time.Millisecond, -3 * time.Hour, -50 * 24 * time.Hour}
	var members []inventory.Member
	for i, off := range offsets {
		name := fmt.Sprintf("c%d", i)
		members = append(members, inventory.Member{Name: name, Origin: name, Access: inventory.Access{Hash: name},
			Cluster: &clusters.Cluster{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(base.Add(off))}}})
	}
	inv.Replace("fleet", members)
	l := newListEncoder(inv)
	for _, now := range []time.Time{base.Add(10*time.Second + 500*time.Millisecond), base.Add(5 * time.Minute), base.Add(-5 * time.Second)} {
		table, _ := encodedTable(t, l, now)
		objs, _ := inv.List()
		for i, obj := range objs {
			if got, want := table.Rows[i].Cells[clusterstorage.AgeCell], clusterstorage.Cells(obj, now)[clusterstorage.AgeCell]; got != want {
				t.Errorf("at %s, %s created %s: Age %q, want %q", now, obj.Name, obj.CreationTimestamp, got, want)
			}
		}
	}
}

// bytes returns the whole list in one buffer.
func (b *listBody) bytes() []byte {
	var buf bytes.Buffer
	buf.Grow(b.size)
	_ = b.writeTo(&buf)
	return buf.Bytes()
}
