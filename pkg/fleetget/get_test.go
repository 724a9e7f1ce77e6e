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

package fleetget

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// fakeHub answers, for each cluster's proxy path, the legacy discovery of
// the core group (configmaps) and a list of configmaps as a Table in pages
// of one row; cluster "silent" never answers a list, and "refusing"
// answers 403. It records every request's path, query and Accept header.
type fakeHub struct {
	elsewhere string // where "redirecting" sends its list
	mu        sync.Mutex
	requests  []string
	inFlight  atomic.Int32
	maxSeen   atomic.Int32
}

func (f *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.RequestURI()+" "+r.Header.Get("Accept"))
	f.mu.Unlock()
	after, ok := strings.CutPrefix(r.URL.Path, "/apis/clusters.headlamp.dev/v1alpha1/clusters/")
	cluster, path, _ := strings.Cut(after, "/proxy")
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch path {
	case "/api":
		_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
	case "/apis":
		_, _ = w.Write([]byte(`{"kind":"APIGroupList","groups":[]}`))
	case "/api/v1":
		_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["list"],"shortNames":["cm"]}]}`))
	case "/api/v1/namespaces/shop/configmaps":
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			m := f.maxSeen.Load()
			if n <= m || f.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		switch cluster {
		case "huge":
			_, _ = w.Write([]byte(`{"kind":"Table","rows":[` + strings.Repeat(" ", 4096) + `]}`))
			return
		case "looping":
			_, _ = w.Write([]byte(`{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"continue":"again"},"rows":[]}`))
			return
		case "redirecting":
			http.Redirect(w, r, f.elsewhere, http.StatusFound)
			return
		case "warning":
			w.Header().Add("Warning", `299 - "configmaps are old"`)
		case "silent":
			<-r.Context().Done()
			return
		case "refusing":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"configmaps is forbidden: User \"ada\" cannot list resource \"configmaps\""}`))
			return
		}
		page := r.URL.Query().Get("continue")
		next := map[string]string{"": "2", "2": ""}[page]
		row := map[string]any{"cells": []any{"cm-" + cluster + "-" + page, 1}, "object": map[string]any{"metadata": map[string]any{"name": "x", "namespace": "shop"}}}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": map[string]any{"continue": next},
			"columnDefinitions": []any{map[string]any{"name": "Name", "type": "string"}, map[string]any{"name": "Data", "type": "integer"}},
			"rows":              []any{row},
		})
	default:
		http.NotFound(w, r)
	}
}

func TestGetReadsEveryClusterAndNamesTheOnesThatFail(t *testing.T) {
	f := &fakeHub{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	hub := &rest.Config{Host: srv.URL}
	client, err := rest.HTTPClientFor(hub)
	if err != nil {
		t.Fatal(err)
	}
	clusters := []string{"a", "b", "silent", "refusing", "c", "d"}
	results := Get(t.Context(), hub, client, clusters,
		Request{Resource: "cm", Namespace: "shop", LabelSelector: "app=web", Table: true},
		Options{Concurrency: 2, Timeout: 2 * time.Second, PageSize: 1})
	if len(results) != len(clusters) {
		t.Fatalf("%d results for %d clusters", len(results), len(clusters))
	}
	for i, r := range results {
		if r.Cluster != clusters[i] {
			t.Errorf("result %d is of %s, want %s", i, r.Cluster, clusters[i])
		}
		switch r.Cluster {
		case "silent":
			if r.Err == nil || !strings.Contains(r.Err.Error(), "no answer within 2s") {
				t.Errorf("silent: %v; want a timeout naming 2s", r.Err)
			}
		case "refusing":
			if r.Err == nil || !strings.Contains(r.Err.Error(), `User "ada" cannot list resource "configmaps"`) {
				t.Errorf("refusing: %v; want the member's 403 message", r.Err)
			}
		default:
			if r.Err != nil || r.Table == nil || len(r.Table.Rows) != 2 {
				t.Errorf("%s: %v, %+v; want both pages", r.Cluster, r.Err, r.Table)
			}
		}
	}
	if got := f.maxSeen.Load(); got > 2 {
		t.Errorf("%d lists ran at once; want at most the concurrency, 2", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := "/apis/clusters.headlamp.dev/v1alpha1/clusters/a/proxy/api/v1/namespaces/shop/configmaps?continue=2&includeObject=Metadata&labelSelector=app%3Dweb&limit=1 application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
	found := false
	for _, r := range f.requests {
		found = found || r == want
	}
	if !found {
		t.Errorf("no request\n%s\namong\n%s", want, strings.Join(f.requests, "\n"))
	}

	tbl := Table(results, true)
	var names []string
	for _, c := range tbl.ColumnDefinitions {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"Cluster", "Namespace", "Name", "Data"}, names); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if len(tbl.Rows) != 8 || tbl.Rows[0].Cells[0] != "a" || tbl.Rows[0].Cells[1] != "shop" || tbl.Rows[7].Cells[2] != "cm-d-2" {
		t.Errorf("rows: %+v", tbl.Rows)
	}
}

func TestTablePlacesDifferingColumnsByName(t *testing.T) {
	col := func(names ...string) []metav1.TableColumnDefinition {
		var out []metav1.TableColumnDefinition
		for _, n := range names {
			out = append(out, metav1.TableColumnDefinition{Name: n, Type: "string"})
		}
		return out
	}
	results := []Result{
		{Cluster: "old", Table: &metav1.Table{ColumnDefinitions: col("Name", "Ready", "Age"), Rows: []metav1.TableRow{{Cells: []any{"p", "1/1", "5m"}}}}},
		{Cluster: "down", Err: errDown},
		{Cluster: "new", Table: &metav1.Table{ColumnDefinitions: col("Name", "Age", "Extra"), Rows: []metav1.TableRow{{Cells: []any{"q", "2m", "x"}}}}},
	}
	got := Table(results, false)
	want := [][]any{{"old", "p", "1/1", "5m", nil}, {"new", "q", nil, "2m", "x"}}
	var rows [][]any
	for _, r := range got.Rows {
		rows = append(rows, r.Cells)
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

var errDown = &json.UnsupportedValueError{Str: "down"}

func TestListAnnotatesEachObjectWithItsCluster(t *testing.T) {
	results := []Result{{Cluster: "member-1", List: mustList(t, `{"apiVersion":"v1","kind":"ConfigMapList","metadata":{},"items":[
		{"metadata":{"name":"a","namespace":"shop","managedFields":[{"manager":"kubectl"}],"annotations":{"keep":"me"}}},
		{"metadata":{"name":"b","namespace":"shop"}}]}`)}}
	list := List(results)
	if list.GetKind() != "List" || len(list.Items) != 2 {
		t.Fatalf("list %s with %d items", list.GetKind(), len(list.Items))
	}
	for _, item := range list.Items {
		if item.GetKind() != "ConfigMap" || item.GetAPIVersion() != "v1" || item.GetAnnotations()[ClusterAnnotation] != "member-1" || item.GetManagedFields() != nil {
			t.Errorf("item %s: kind %s/%s, annotations %v, managedFields %v", item.GetName(), item.GetAPIVersion(), item.GetKind(), item.GetAnnotations(), item.GetManagedFields())
		}
	}
	if list.Items[0].GetAnnotations()["keep"] != "me" {
		t.Errorf("the object's own annotations were lost: %v", list.Items[0].GetAnnotations())
	}
}

func mustList(t *testing.T, data string) *unstructured.UnstructuredList {
	t.Helper()
	l := &unstructured.UnstructuredList{}
	if err := l.UnmarshalJSON([]byte(data)); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestGetBoundsWhatAMemberSends: an answer past MaxBytes, a continue token
// that does not advance, a redirect (which would carry the credential
// away), a name that is not a Cluster name: each an error of its cluster.
// Warnings are handed on with their cluster. The hub configuration has an
// exec provider, which the parallel reads must not write to (-race).
func TestGetBoundsWhatAMemberSends(t *testing.T) {
	var carried atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			carried.Add(1)
		}
	}))
	defer elsewhere.Close()
	f := &fakeHub{elsewhere: elsewhere.URL}
	srv := httptest.NewServer(f)
	defer srv.Close()
	hub := &rest.Config{Host: srv.URL, BearerToken: "hub-token", ExecProvider: &clientcmdapi.ExecConfig{Command: "never-run", APIVersion: "client.authentication.k8s.io/v1"}}
	client, err := rest.HTTPClientFor(&rest.Config{Host: srv.URL, BearerToken: "hub-token"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warned []string
	clusters := []string{"huge", "looping", "redirecting", "warning", "Not_A_Name", "a", "b", "c"}
	results := Get(t.Context(), hub, client, clusters, Request{Resource: "configmaps", Namespace: "shop", Table: true},
		Options{Concurrency: 8, Timeout: 5 * time.Second, MaxBytes: 1024, Warn: func(cluster, msg string) {
			mu.Lock()
			defer mu.Unlock()
			warned = append(warned, cluster+": "+msg)
		}})
	wantErr := map[string]string{
		"huge":        "larger than 1024 bytes",
		"looping":     "continue token it gave before",
		"redirecting": "302",
		"Not_A_Name":  "not a valid name",
	}
	for _, r := range results {
		want, bad := wantErr[r.Cluster]
		switch {
		case bad && (r.Err == nil || !strings.Contains(r.Err.Error(), want)):
			t.Errorf("%s: %v; want an error with %q", r.Cluster, r.Err, want)
		case bad && r.Table != nil:
			t.Errorf("%s: a failed cluster kept rows: %+v", r.Cluster, r.Table)
		case !bad && r.Err != nil:
			t.Errorf("%s: %v", r.Cluster, r.Err)
		}
	}
	if n := carried.Load(); n > 0 {
		t.Errorf("a redirect carried the hub's credential elsewhere %d times", n)
	}
	if diff := cmp.Diff([]string{"warning: configmaps are old", "warning: configmaps are old"}, warned); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestTableColumnsCannotForgeTheLead: a member's Cluster column is renamed,
// and control and bidi characters leave its column names.
func TestTableColumnsCannotForgeTheLead(t *testing.T) {
	results := []Result{{Cluster: "m", Table: &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "Name"}, {Name: "cluster"}, {Name: "\x1b[2JEvil\u202e"}},
		Rows:              []metav1.TableRow{{Cells: []any{"a", "other", "x"}}},
	}}}
	var names []string
	for _, c := range Table(results, false).ColumnDefinitions {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"Cluster", "Name", "cluster (member)", "[2JEvil"}, names); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
}
