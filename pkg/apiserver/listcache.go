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
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/metrics"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/features"
)

// A list of 10,000 Clusters is megabytes of JSON that take the encoder
// about 100 ms of CPU, and as much again to compress; a fleet's dashboards
// and controllers list the same Clusters over and over between two
// changes. listCache keeps the response to a list, as the generic handler
// wrote it, for as long as the inventory has not changed, and serves it
// again to the same request (the same query and Accept header): the same
// bytes, compressed once. Concurrent identical lists wait for the one
// that encodes. Nothing about who asks enters a list's response, and
// authorization ran before (this handler is innermost in the chain), so
// one response serves every caller allowed to list.

const (
	// listCacheMaxEntries and listCacheMaxBytes bound what is kept: a few
	// representations (JSON, Table, YAML, protobuf, with or without
	// selectors) of the current state.
	listCacheMaxEntries = 16
	listCacheMaxBytes   = 128 << 20
	// listCacheIdle is how long an entry no request asked for is kept.
	listCacheIdle = 30 * time.Second
	// listCacheTableTTL bounds the age of a Table, whose AGE column is
	// computed when it is encoded.
	listCacheTableTTL = time.Second
	// gzipThreshold is the size above which the generic handler
	// compresses a response the client accepts compressed.
	gzipThreshold = 128 << 10
)

// errNotPlain is why c.enc does not write a list: the generic handler does.
var errNotPlain = errors.New("not a plain list")

// listCache serves lists of Clusters from recorded responses; see above.
type listCache struct {
	next http.Handler
	// enc, if not nil, writes the plain lists itself (see listEncoder).
	enc *listEncoder
	// rv is the inventory's resourceVersion now.
	rv  func() string
	now func() time.Time

	mu      sync.Mutex
	entries map[listKey]*listEntry
	size    int
	purge   *time.Timer
}

// listKey is what a list's response depends on: the inventory, the path,
// query and Accept header, and whether the generic handler pretty-prints
// JSON for the client's User-Agent (see negotiation's isPrettyPrint).
type listKey struct {
	rv, path, query, accept string
	pretty                  bool
}

// listEntry is one recorded response, or one being recorded.
type listEntry struct {
	// done is closed once the response is recorded; the fields below are
	// then read-only, but for those guarded by listCache.mu.
	done chan struct{}
	// servable is true for a 200 with no header but Content-Type: one that
	// can be written again as it is.
	servable    bool
	contentType string
	// body is the response recorded from the generic handler; list, one
	// that c.enc made, in its place.
	body    []byte
	list    *listBody
	expires time.Time // zero: until the inventory changes
	used    time.Time // guarded by listCache.mu
	counted int       // bytes counted in listCache.size; guarded by listCache.mu

	gzipOnce sync.Once
	gzipped  []byte
}

func newListCache(next http.Handler, rv func() string, enc *listEncoder) *listCache {
	return &listCache{next: next, enc: enc, rv: rv, now: time.Now, entries: map[listKey]*listEntry{}}
}

// cacheable tells whether req lists Clusters, and is not audited with its
// response: the generic handler logs the response object into the audit
// event, which a response served from here would lack.
func cacheable(req *http.Request, info *genericapirequest.RequestInfo) bool {
	if req.Method != http.MethodGet || !info.IsResourceRequest || info.Verb != "list" ||
		info.APIGroup != proxyGroupVersion.Group || info.APIVersion != proxyGroupVersion.Version ||
		info.Resource != "clusters" || info.Subresource != "" || info.Namespace != "" || info.Name != "" {
		return false
	}
	ac := audit.AuditContextFrom(req.Context())
	return ac == nil || !ac.Enabled() || !ac.GetEventLevel().GreaterOrEqual(auditinternal.LevelRequestResponse)
}

// prettyPrinted tells whether the generic handler indents JSON for the
// User-Agent of req when the query does not say (negotiation's
// isPrettyPrint; the query is in the key anyway).
func prettyPrinted(req *http.Request) bool {
	ua := req.UserAgent()
	return strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget") || strings.HasPrefix(ua, "Mozilla/5.0")
}

// isTable tells whether req asks for a Table (as kubectl does), which the
// generic handler writes as plain JSON or YAML: only the Accept header
// tells.
func isTable(req *http.Request) bool {
	for _, a := range req.Header.Values("Accept") {
		if strings.Contains(a, "as=Table") {
			return true
		}
	}
	return false
}

func (c *listCache) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	info, ok := genericapirequest.RequestInfoFrom(req.Context())
	if !ok || !cacheable(req, info) {
		c.next.ServeHTTP(w, req)
		return
	}
	// The Accept lines joined with what no header value holds: the
	// generic handler reads the first line only, so "a, b" on one line
	// and "a" then "b" on two are different requests.
	key := listKey{path: req.URL.EscapedPath(), query: req.URL.RawQuery, accept: strings.Join(req.Header.Values("Accept"), "\n"), pretty: prettyPrinted(req)}
	now := c.now()
	c.mu.Lock()
	// Read under c.mu, so that a request that read it before a change
	// cannot drop what was recorded after.
	key.rv = c.rv()
	c.dropStaleLocked(key.rv, now)
	e, found := c.entries[key]
	if !found {
		e = &listEntry{done: make(chan struct{})}
		if isTable(req) {
			e.expires = now.Add(listCacheTableTTL)
		}
		c.entries[key] = e
	}
	e.used = now
	c.mu.Unlock()

	if !found {
		// This request encodes (go-restful's route records its metrics);
		// the same requests meanwhile wait for it.
		rec := c.record(e, key, req)
		if !e.servable {
			rec.replay(w, req)
			return
		}
		if rec == nil { // encoded by c.enc: no route recorded metrics
			c.instrumented(e, key, info, w, req)
			return
		}
		c.write(e, key, w, req)
		return
	}
	select {
	case <-e.done:
	case <-req.Context().Done():
		return // the client went away, or the request timed out
	}
	if !e.servable {
		c.next.ServeHTTP(w, req)
		return
	}
	c.instrumented(e, key, info, w, req)
}

// instrumented writes e with the request metrics go-restful's route
// records (with the verb it gives a list, which the response size
// histogram needs), which a response served from here does not reach.
func (c *listCache) instrumented(e *listEntry, key listKey, info *genericapirequest.RequestInfo, w http.ResponseWriter, req *http.Request) {
	metrics.InstrumentHandlerFunc(metrics.MethodList, info.APIGroup, info.APIVersion, info.Resource, info.Subresource, "cluster", metrics.APIServerComponent, false, "",
		func(w http.ResponseWriter, req *http.Request) { c.write(e, key, w, req) })(w, req)
}

// record runs the generic handler for req, uncompressed, into e, and
// keeps e if it can serve the same request again. A plain JSON list is
// written by c.enc instead, as is kubectl's Table, and no recorder is
// returned.
func (c *listCache) record(e *listEntry, key listKey, req *http.Request) *recorder {
	rec := &recorder{header: http.Header{}}
	defer func() {
		c.mu.Lock()
		keep := e.servable && c.rv() == key.rv // else newer than its key
		if keep {
			c.makeRoomLocked(e, e.cost())
		}
		if keep && c.size+e.cost() <= listCacheMaxBytes {
			e.counted = e.cost()
			c.size += e.counted
			c.schedulePurgeLocked()
		} else if c.entries[key] == e {
			delete(c.entries, key)
		}
		if c.enc != nil {
			// Whether or not e is kept, c.enc may hold encodings now,
			// which the purge drops once nobody lists.
			c.schedulePurgeLocked()
		}
		c.mu.Unlock()
		close(e.done) // also when next panics: the waiters then run it themselves
	}()
	if c.enc != nil {
		var list *listBody
		err := errNotPlain
		switch plainList(req, key.pretty) {
		case jsonList:
			list, _, err = c.enc.encode()
		case tableList:
			list, _, err = c.enc.encodeTable(c.now())
		}
		if err == nil {
			// Both are application/json, as the generic handler says.
			e.servable, e.contentType, e.list = true, "application/json", list
			return nil
		}
		// Else as any other list: the generic handler reports the error.
	}
	plain := req.Clone(req.Context())
	plain.Header.Del("Accept-Encoding")
	c.next.ServeHTTP(rec, plain)

	e.servable = rec.status == http.StatusOK && len(rec.header) == 1 && rec.header.Get("Content-Type") != ""
	if e.servable {
		e.contentType = rec.header.Get("Content-Type")
		e.body = rec.body.Bytes()
		if cap(e.body) > len(e.body)+len(e.body)/4 {
			e.body = bytes.Clone(e.body) // not the buffer's room to grow, for as long as it is kept
		}
	}
	return rec
}

// size is the length of e's response, uncompressed.
func (e *listEntry) size() int {
	if e.list != nil {
		return e.list.size
	}
	return len(e.body)
}

// cost is what keeping e's response costs, uncompressed: a recorded body,
// or the references to the encodings of a list made by c.enc, which the
// encoder keeps anyway.
func (e *listEntry) cost() int {
	if e.list != nil {
		return e.list.held()
	}
	return len(e.body)
}

// makeRoomLocked drops the least recently used recorded entries other than
// keep until one more entry of size bytes fits; c.mu is held.
func (c *listCache) makeRoomLocked(keep *listEntry, size int) {
	for {
		recorded := 0
		var oldestKey listKey
		var oldest *listEntry
		for k, e := range c.entries {
			if e == keep || !isDone(e) {
				continue
			}
			recorded++
			if oldest == nil || e.used.Before(oldest.used) {
				oldestKey, oldest = k, e
			}
		}
		if oldest == nil || (recorded < listCacheMaxEntries && c.size+size <= listCacheMaxBytes) {
			return
		}
		delete(c.entries, oldestKey)
		c.size -= oldest.counted
	}
}

func isDone(e *listEntry) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// dropStaleLocked drops the entries of another resourceVersion, expired,
// or unused for listCacheIdle; c.mu is held.
func (c *listCache) dropStaleLocked(rv string, now time.Time) {
	for k, e := range c.entries {
		if !isDone(e) {
			continue // being recorded
		}
		if k.rv != rv || (!e.expires.IsZero() && now.After(e.expires)) || now.Sub(e.used) > listCacheIdle {
			delete(c.entries, k)
			c.size -= e.counted
		}
	}
}

// schedulePurgeLocked makes sure the entries are looked at again every
// half listCacheIdle while there are any, so an unused list does not stay
// in memory much longer than listCacheIdle; c.mu is held.
func (c *listCache) schedulePurgeLocked() {
	if c.purge != nil {
		return
	}
	c.purge = time.AfterFunc(listCacheIdle/2, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.purge = nil
		c.dropStaleLocked(c.rv(), c.now())
		if len(c.entries) > 0 {
			c.schedulePurgeLocked()
		} else if c.enc != nil {
			c.enc.forget() // nobody lists: no need to keep every Cluster encoded
		}
	})
}

// write writes e, recorded for key, as the generic handler would have for
// req: compressed if req accepts gzip and the body is large enough. The
// compressed copy is made once, and counted while e is kept.
func (c *listCache) write(e *listEntry, key listKey, w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", e.contentType)
	if wantsGzip(req, e.size()) {
		e.gzipOnce.Do(func() {
			var gzipped []byte
			if e.list != nil {
				gzipped = compress(e.list.size, e.list.writeTo)
			} else {
				gzipped = compress(len(e.body), writeBytes(e.body))
			}
			if cap(gzipped) > len(gzipped)+len(gzipped)/4 {
				gzipped = bytes.Clone(gzipped) // not the buffer's room, for as long as it is kept
			}
			e.gzipped = gzipped
			c.mu.Lock()
			if c.entries[key] == e {
				e.counted += len(e.gzipped)
				c.size += len(e.gzipped)
			}
			c.mu.Unlock()
		})
		writeGzipped(w, http.StatusOK, e.gzipped)
		return
	}
	w.WriteHeader(http.StatusOK)
	if e.list != nil {
		_ = e.list.writeTo(w)
		return
	}
	_, _ = w.Write(e.body)
}

// wantsGzip tells whether the generic handler would compress a body of
// size bytes for req.
func wantsGzip(req *http.Request, size int) bool {
	return size > gzipThreshold && responsewriters.ContentEncodingSupported(req, features.APIResponseCompression) == "gzip"
}

// compress compresses the size bytes that write writes, at the generic
// handler's level.
func compress(size int, write func(io.Writer) error) []byte {
	var buf bytes.Buffer
	buf.Grow(size / 8) // room for a list of Clusters, which compresses about twelvefold
	gw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_ = write(gw) // into memory: nothing to fail
	_ = gw.Close()
	return buf.Bytes()
}

// writeBytes is compress's write for a body in one buffer.
func writeBytes(body []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(body)
		return err
	}
}

// writeGzipped writes a compressed body with the headers the generic
// handler gives it.
func writeGzipped(w http.ResponseWriter, status int, gzipped []byte) {
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	w.WriteHeader(status)
	_, _ = w.Write(gzipped)
}

// recorder is the http.ResponseWriter a list is recorded with.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// replay writes what was recorded for req to w, for a response that is
// not kept: an error, or one with headers of its own. (Warnings are not
// among them: the warning filter adds them to the outer writer, where the
// request that records gets them; a list of Clusters has none.)
func (r *recorder) replay(w http.ResponseWriter, req *http.Request) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if body := r.body.Bytes(); r.header.Get("Content-Encoding") == "" && wantsGzip(req, len(body)) {
		writeGzipped(w, r.status, compress(len(body), writeBytes(body)))
		return
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}
