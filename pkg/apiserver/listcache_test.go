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
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// fakeList is a generic handler stand-in that answers every request with
// a body naming the resourceVersion and the Accept header, and counts its
// calls.
type fakeList struct {
	calls   atomic.Int32
	rv      atomic.Value // string
	status  int
	header  http.Header
	release chan struct{} // if set, each call waits for it
	sawGzip atomic.Bool
}

func (f *fakeList) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	if req.Header.Get("Accept-Encoding") != "" {
		f.sawGzip.Store(true)
	}
	for k, vs := range f.header {
		w.Header()[k] = vs
	}
	// As the generic handler writes a Table too.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	// Large enough to be compressed.
	_, _ = io.WriteString(w, strings.Repeat(`{"rv":"`+f.rv.Load().(string)+`","accept":"`+req.Header.Get("Accept")+`"}`, 10000))
}

func listRequest(t *testing.T, path string, header http.Header) *http.Request {
	t.Helper()
	resolver := &genericapirequest.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	req := httptest.NewRequest(http.MethodGet, path, http.NoBody)
	for k, vs := range header {
		req.Header[k] = vs
	}
	info, err := resolver.NewRequestInfo(req)
	if err != nil {
		t.Fatal(err)
	}
	return req.WithContext(genericapirequest.WithRequestInfo(req.Context(), info))
}

const clustersURL = "/apis/clusters.headlamp.dev/v1alpha1/clusters"

// body returns the response's body, decompressed if it is.
func body(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String()
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestListCache(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK}
	f.rv.Store("1")
	now := time.Unix(1000, 0)
	c := newListCache(f, func() string { return f.rv.Load().(string) }, nil)
	c.now = func() time.Time { return now }
	get := func(path string, header http.Header) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, listRequest(t, path, header))
		return rec
	}

	first := get(clustersURL, nil)
	again := get(clustersURL, nil)
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("the same list twice called the handler %d times, want 1", n)
	}
	if first.Code != http.StatusOK || again.Code != http.StatusOK || again.Body.String() != first.Body.String() || again.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("the cached response differs: %d %q vs %d %q", first.Code, first.Header(), again.Code, again.Header())
	}
	if f.sawGzip.Load() {
		t.Fatal("the handler was asked to compress")
	}

	zipped := get(clustersURL, http.Header{"Accept-Encoding": {"gzip"}})
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("Vary") != "Accept-Encoding" || body(t, zipped) != first.Body.String() {
		t.Fatalf("a gzip request got %q", zipped.Header())
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("a compressed copy called the handler again (%d calls)", n)
	}

	// Another query or Accept header is another response.
	get(clustersURL+"?labelSelector=a%3Db", nil)
	yaml := get(clustersURL, http.Header{"Accept": {"application/yaml"}})
	if n := f.calls.Load(); n != 3 || !strings.Contains(yaml.Body.String(), "application/yaml") {
		t.Fatalf("other requests: %d calls, want 3", n)
	}

	// A change of the inventory is a new response.
	f.rv.Store("2")
	if rec := get(clustersURL, nil); f.calls.Load() != 4 || !strings.Contains(rec.Body.String(), `"rv":"2"`) {
		t.Fatalf("after a change: %d calls, body %.40q", f.calls.Load(), rec.Body.String())
	}
	c.mu.Lock()
	for k := range c.entries {
		if k.rv != "2" {
			t.Errorf("an entry of resourceVersion %s is kept after the change", k.rv)
		}
	}
	c.mu.Unlock()

	// A Table is re-encoded after listCacheTableTTL: its AGE column moves.
	table := http.Header{"Accept": {"application/json;as=Table;v=v1;g=meta.k8s.io"}}
	get(clustersURL, table)
	get(clustersURL, table)
	if n := f.calls.Load(); n != 5 {
		t.Fatalf("two Tables: %d calls, want 5", n)
	}
	now = now.Add(listCacheTableTTL + time.Millisecond)
	get(clustersURL, table)
	if n := f.calls.Load(); n != 6 {
		t.Fatalf("a Table after its TTL: %d calls, want 6", n)
	}

	// An idle entry is dropped.
	now = now.Add(listCacheIdle + time.Second)
	get(clustersURL, nil)
	if n := f.calls.Load(); n != 7 {
		t.Fatalf("after listCacheIdle: %d calls, want 7", n)
	}

	// A User-Agent the generic handler pretty-prints for is another
	// response.
	get(clustersURL, http.Header{"User-Agent": {"curl/8.0"}})
	get(clustersURL, http.Header{"User-Agent": {"kubectl/v1.37.0"}})
	if n := f.calls.Load(); n != 8 {
		t.Fatalf("curl and kubectl: %d calls, want 8", n)
	}
}

// TestListCacheAcceptLines: two Accept lines are not the same two types on
// one line, since the generic handler reads the first line only.
func TestListCacheAcceptLines(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK}
	f.rv.Store("1")
	c := newListCache(f, func() string { return f.rv.Load().(string) }, nil)
	for i, accept := range [][]string{{"application/json;q=0.5, application/yaml"}, {"application/json;q=0.5", "application/yaml"}} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, listRequest(t, clustersURL, http.Header{"Accept": accept}))
		if n := f.calls.Load(); int(n) != i+1 || !strings.Contains(rec.Body.String(), `"accept":"`+accept[0]+`"`) {
			t.Errorf("Accept %q: %d calls, want %d; answered %.60q", accept, n, i+1, rec.Body.String())
		}
	}
}

// TestListCacheEvicts checks that distinct lists beyond
// listCacheMaxEntries evict the least recently used, so junk queries
// cannot keep the lists people use out.
func TestListCacheEvicts(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK}
	f.rv.Store("1")
	now := time.Unix(1000, 0)
	c := newListCache(f, func() string { return "1" }, nil)
	c.now = func() time.Time { return now }
	get := func(query string) {
		now = now.Add(time.Millisecond)
		c.ServeHTTP(httptest.NewRecorder(), listRequest(t, clustersURL+query, nil))
	}
	get("")
	for i := range listCacheMaxEntries + 4 {
		get(fmt.Sprintf("?junk=%d", i))
		get("") // the list in use stays the most recently used
	}
	if n := f.calls.Load(); n != listCacheMaxEntries+5 {
		t.Fatalf("%d calls, want %d: the list in use was evicted", n, listCacheMaxEntries+5)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > listCacheMaxEntries {
		t.Errorf("%d entries kept, at most %d", len(c.entries), listCacheMaxEntries)
	}
	size := 0
	for _, e := range c.entries {
		size += e.counted
	}
	if size != c.size {
		t.Errorf("size %d, the entries count %d", c.size, size)
	}
}

// TestListCacheNotForAuditedResponses checks that a list audited at the
// RequestResponse level, whose event carries the response object the
// generic handler logs, always goes to the handler.
func TestListCacheNotForAuditedResponses(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK}
	f.rv.Store("1")
	c := newListCache(f, func() string { return "1" }, nil)
	for range 2 {
		req := listRequest(t, clustersURL, nil)
		ctx := audit.WithAuditContext(req.Context())
		if err := audit.AuditContextFrom(ctx).Init(audit.RequestAuditConfig{Level: auditinternal.LevelRequestResponse}, nil); err != nil {
			t.Fatal(err)
		}
		c.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	}
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

// TestListCacheOnlyLists checks that what is not a list of Clusters goes
// to the handler every time.
func TestListCacheOnlyLists(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK}
	f.rv.Store("1")
	c := newListCache(f, func() string { return "1" }, nil)
	for _, path := range []string{
		clustersURL + "/one",
		clustersURL + "?fieldSelector=metadata.name%3Done", // authorized as that name
		clustersURL + "?watch=true",
		"/apis/clusters.headlamp.dev/v1alpha1/watch/clusters",
		clustersURL + "/one/proxy/api/v1/namespaces",
		"/api/v1/namespaces",
		"/apis/clusters.headlamp.dev/v1alpha2/clusters",
	} {
		for range 2 {
			c.ServeHTTP(httptest.NewRecorder(), listRequest(t, path, nil))
		}
	}
	head := listRequest(t, clustersURL, nil)
	head.Method = http.MethodHead
	c.ServeHTTP(httptest.NewRecorder(), head)
	c.ServeHTTP(httptest.NewRecorder(), head)
	if n := f.calls.Load(); n != 16 {
		t.Fatalf("%d calls, want every one of 16", n)
	}
}

// TestListCacheKeepsOnlyPlainSuccess checks that an error, or a response
// with a header of its own (a warning), is written as the handler wrote
// it, compressed as the client asked, and never served again.
func TestListCacheKeepsOnlyPlainSuccess(t *testing.T) {
	t.Parallel()
	for _, f := range []*fakeList{
		{status: http.StatusInternalServerError},
		{status: http.StatusOK, header: http.Header{"Warning": {`299 - "deprecated"`}}},
	} {
		f.rv.Store("1")
		c := newListCache(f, func() string { return "1" }, nil)
		for range 2 {
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, listRequest(t, clustersURL, http.Header{"Accept-Encoding": {"gzip"}}))
			if rec.Code != f.status || rec.Header().Get("Warning") != f.header.Get("Warning") || rec.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(body(t, rec), `"rv":"1"`) {
				t.Fatalf("got %d %q", rec.Code, rec.Header())
			}
		}
		if n := f.calls.Load(); n != 2 {
			t.Errorf("status %d: %d calls, want 2", f.status, n)
		}
	}
}

// TestListCacheCoalesces checks that identical lists arriving together
// are encoded once, and that a waiter whose client goes away returns.
func TestListCacheCoalesces(t *testing.T) {
	t.Parallel()
	f := &fakeList{status: http.StatusOK, release: make(chan struct{})}
	f.rv.Store("1")
	c := newListCache(f, func() string { return "1" }, nil)
	var wg sync.WaitGroup
	bodies := make([]string, 20)
	for i := range bodies {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, listRequest(t, clustersURL, nil))
			bodies[i] = rec.Body.String()
		})
	}
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	req := listRequest(t, clustersURL, nil)
	gone, cancel := context.WithCancel(req.Context())
	left := make(chan struct{})
	go func() {
		defer close(left)
		c.ServeHTTP(httptest.NewRecorder(), req.WithContext(gone))
	}()
	time.Sleep(50 * time.Millisecond) // let the others queue
	cancel()
	<-left
	close(f.release)
	wg.Wait()
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("%d calls for 21 identical lists at once, want 1", n)
	}
	for _, b := range bodies {
		if b != bodies[0] || b == "" {
			t.Fatal("the waiters got different bodies")
		}
	}
}

// TestListCacheLeaderPanics checks that when the handler panics for the
// request that encodes, the panic goes on up (to the chain's recovery)
// and the waiting requests run the handler themselves.
func TestListCacheLeaderPanics(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	release := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			<-release
			panic("boom")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})
	c := newListCache(next, func() string { return "1" }, nil)
	panicked := make(chan any)
	go func() {
		defer func() { panicked <- recover() }()
		c.ServeHTTP(httptest.NewRecorder(), listRequest(t, clustersURL, nil))
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiter := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, listRequest(t, clustersURL, nil))
		waiter <- rec
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if p := <-panicked; p != "boom" {
		t.Fatalf("the panic was %v", p)
	}
	if rec := <-waiter; rec.Code != http.StatusOK || rec.Body.String() != "{}" {
		t.Fatalf("the waiter got %d %q", rec.Code, rec.Body.String())
	}
}

// TestListCacheWritesEncodedLists: a list and a Table made by the list
// encoder, of more Clusters than fit under the compression threshold or
// in one write, are written whole and in order from their parts,
// compressed (with the generic handler's headers) for a client that
// accepts it and not for one that does not, each from the same entry.
func TestListCacheWritesEncodedLists(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	const n = 2000
	var members []inventory.Member
	for i := range n {
		members = append(members, testMember(fmt.Sprintf("c%04d", i), fmt.Sprintf("https://c%04d.example:6443", i)))
	}
	inv.Replace("src", members)
	enc := newListEncoder(inv)
	next := &fakeList{status: http.StatusOK}
	next.rv.Store("generic")
	c := newListCache(next, inv.ResourceVersion, enc)
	const kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
	for _, accept := range []string{"application/json", kubectl} {
		encoded := -1
		for _, gz := range []bool{true, false, true} {
			header := http.Header{"Accept": {accept}}
			if gz {
				header.Set("Accept-Encoding", "gzip")
			}
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, listRequest(t, clustersURL, header))
			got := body(t, rec)
			if rec.Code != http.StatusOK || len(got) < gzipThreshold || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("Accept %q, gzip %v: %d, %d bytes, %q", accept, gz, rec.Code, len(got), rec.Header().Get("Content-Type"))
			}
			if compressed := rec.Header().Get("Content-Encoding") == "gzip" && rec.Header().Get("Vary") == "Accept-Encoding"; compressed != gz {
				t.Errorf("Accept %q, gzip %v: Content-Encoding %q, Vary %q", accept, gz, rec.Header().Get("Content-Encoding"), rec.Header().Get("Vary"))
			}
			var names []string
			if accept == kubectl {
				var table metav1.Table
				if err := json.Unmarshal([]byte(got), &table); err != nil {
					t.Fatalf("Table: %v", err)
				}
				for _, r := range table.Rows {
					names = append(names, r.Cells[0].(string))
				}
			} else {
				var list struct {
					Items []metav1.PartialObjectMetadata
				}
				if err := json.Unmarshal([]byte(got), &list); err != nil {
					t.Fatalf("list: %v", err)
				}
				for _, it := range list.Items {
					names = append(names, it.Name)
				}
			}
			if len(names) != n || names[0] != "c0000" || names[n-1] != fmt.Sprintf("c%04d", n-1) || !slices.IsSorted(names) {
				t.Errorf("Accept %q, gzip %v: %d Clusters, not the %d in order", accept, gz, len(names), n)
			}
			if encoded >= 0 && enc.encoded != encoded {
				t.Errorf("Accept %q, gzip %v: encoded again", accept, gz)
			}
			encoded = enc.encoded
		}
	}
	if next.calls.Load() != 0 {
		t.Errorf("the generic handler was called %d times", next.calls.Load())
	}
}
