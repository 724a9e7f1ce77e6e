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

package proxy

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// copyBufferSize is the size of the buffers a response body is copied
// through: httputil.ReverseProxy's own size, which holds more than one TLS
// record (16 KiB) and so more than one read from the member.
const copyBufferSize = 32 << 10

// copyBuffers lends the buffers that response bodies are copied through,
// so that a proxied request does not allocate (and the collector scan) a
// buffer of its own.
var copyBuffers = &bufferPool{}

type bufferPool struct{ pool sync.Pool }

// Get implements httputil.BufferPool.
func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, copyBufferSize)
}

// Put implements httputil.BufferPool.
func (b *bufferPool) Put(buf []byte) {
	if cap(buf) < copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.pool.Put(&buf)
}

// flushInterval is how soon a write of a response of known length is
// flushed to the client: UpgradeAwareHandler's interval.
const flushInterval = 200 * time.Millisecond

// copyErrors receives what httputil.ReverseProxy logs: a body copy that
// failed, mostly because the client or the member went away.
var copyErrors = log.New(copyErrorWriter{}, "", 0)

type copyErrorWriter struct{}

func (copyErrorWriter) Write(p []byte) (int, error) {
	// As UpgradeAwareHandler does: the panic ReverseProxy raises to abort
	// a copy is expected, not news.
	if v := klog.V(2); v.Enabled() {
		if msg := strings.TrimSpace(string(p)); !strings.Contains(msg, "suppressing panic") {
			v.InfoS("Copying a proxied response failed", "err", inventory.Redact(msg))
		}
	}
	return len(p), nil
}

// servePlain forwards a request that is not an upgrade to location over
// forward. It sends what UpgradeAwareHandler sent (the location with the
// request's query and trailing slash, the location's Host, no User-Agent
// of Go's own, X-Forwarded-For, no hop-by-hop headers) and answers errors
// the same way, and flushes as it did: a response of unknown length (a
// watch, a followed log, an event stream) after every write, one of known
// length at most flushInterval after a write, so a slow one is not held
// back. What it does not do is what UpgradeAwareHandler cannot be
// configured to avoid: it takes the copy buffer from a pool (the handler
// has no field for one, and allocates 32 KiB a request), and builds no
// handler, logger or third copy of the headers per request. It is not a
// fork: the ReverseProxy underneath is the one UpgradeAwareHandler uses.
func servePlain(w http.ResponseWriter, req *http.Request, location *url.URL, forward http.RoundTripper, errs errorResponder) {
	loc := *location
	loc.RawQuery = req.URL.RawQuery
	if !strings.HasSuffix(loc.Path, "/") && strings.HasSuffix(req.URL.Path, "/") {
		loc.Path += "/"
	}
	rp := &httputil.ReverseProxy{
		// Not Rewrite: that one drops the client's X-Forwarded-For and
		// query parameters with ";", which UpgradeAwareHandler passed on.
		// The identity is set after Director, by forward (see forwarder).
		Director: func(out *http.Request) { //nolint:staticcheck // SA1019, see above
			out.URL = &loc
			out.Host = loc.Host
		},
		Transport:     forward,
		FlushInterval: flushInterval,
		BufferPool:    copyBuffers,
		ErrorLog:      copyErrors,
		ErrorHandler:  errs.Error,
	}
	rp.ServeHTTP(no101Writer{w}, req)
}

// no101Writer drops a 101 Switching Protocols that ReverseProxy passes on
// as an informational answer: an HTTP/2 member's (HTTP/2 has no 101, and
// Go's HTTP/2 client hands every 1xx to ReverseProxy's trace hook, which
// writes it to the client with the member's headers). To an HTTP/1.1
// client that 101 would be the final answer, past guardResponse, which
// turns an HTTP/1.1 member's 101 into a 502. The member's final answer
// follows as for any other request.
type no101Writer struct{ http.ResponseWriter }

// WriteHeader implements http.ResponseWriter.
func (w no101Writer) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (ReverseProxy's flushes) reach w's
// writer.
func (w no101Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
