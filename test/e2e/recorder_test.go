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
	"bufio"
	"compress/gzip"
	"crypto/sha1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// recorderToken is the bearer token of the recorder's kubeconfig
	// entries: the source credential the proxy must present to it.
	recorderToken = "recorder-source-token"
	// recorderCluster is the recorder as a Cluster reached with
	// impersonation (the default).
	recorderCluster = "e2e-recorder"
	// recorderSourceCluster is the recorder as a Cluster of
	// sourceIdentitySource, reached with the source credential alone.
	recorderSourceCluster = "e2e-recorder-source"
)

// recorder stands in for a member cluster where the proxy's requests can be
// inspected: an HTTPS server on 127.0.0.1 that records every request other
// than health probes and answers
//   - /readyz, /healthz, /livez: ok; /version: v1.37.0;
//   - any other upgrade request: 101 Switching Protocols with the first offered
//     SPDY stream protocol or WebSocket subprotocol, then echoes bytes;
//   - /status/CODE: CODE (401 with WWW-Authenticate, 407 with
//     Proxy-Authenticate); /redirect: 302 to /redirected, upgrade or not;
//   - /response-headers: a gzip JSON body with Warning and Audit-Id;
//   - /switch: 101 Switching Protocols to "x", asked for or not, then
//     holds the connection until the proxy closes it (switched counts
//     those held);
//   - anything else: 200;
//
// echoing the request body, with an X-Recorder header.
type recorder struct {
	srv      *httptest.Server
	mu       sync.Mutex
	seen     []recorded
	switched atomic.Int32
}

// recorded is one request the recorder got.
type recorded struct {
	method string
	path   string
	query  string
	header http.Header
	body   string
}

// startRecorder starts a recorder and serves it as recorderCluster and
// recorderSourceCluster until the test ends.
func startRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewTLSServer(r) // on 127.0.0.1, HTTP/1.1 only
	t.Cleanup(func() {
		writeSource(t, dynamicSource, nil)
		writeSource(t, sourceIdentitySource, nil)
		r.srv.Close()
	})
	writeSource(t, dynamicSource, map[string]sourceEntry{recorderCluster: r.entry()})
	writeSource(t, sourceIdentitySource, map[string]sourceEntry{recorderSourceCluster: r.entry()})
	waitClusters(t, map[string]string{recorderCluster: r.srv.URL, recorderSourceCluster: r.srv.URL})
	return r
}

// entry is the recorder in a kubeconfig: its CA and a bearer token.
func (r *recorder) entry() sourceEntry {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw})
	return sourceEntry{
		cluster: &clientcmdapi.Cluster{Server: r.srv.URL, CertificateAuthorityData: ca},
		user:    &clientcmdapi.AuthInfo{Token: recorderToken},
	}
}

// requests returns what was recorded for path.
func (r *recorder) requests(path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, s := range r.seen {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// request returns the one request recorded for path, or fails t.
func (r *recorder) request(t *testing.T, path string) recorded {
	t.Helper()
	got := r.requests(path)
	if len(got) != 1 {
		t.Fatalf("the recorder got %d requests for %s, want 1", len(got), path)
	}
	return got[0]
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/readyz", "/healthz", "/livez":
		io.WriteString(w, "ok")
		return
	case "/version":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.0"}`)
		return
	}
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.seen = append(r.seen, recorded{method: req.Method, path: req.URL.Path, query: req.URL.RawQuery, header: req.Header.Clone(), body: string(body)})
	r.mu.Unlock()

	w.Header().Set("X-Recorder", "seen")
	if req.URL.Path == "/switch" {
		r.switchUnasked(w)
		return
	}
	if strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade") &&
		req.URL.Path != "/redirect" && !strings.HasPrefix(req.URL.Path, "/status/") {
		r.upgrade(w, req)
		return
	}
	switch {
	case req.URL.Path == "/response-headers":
		// What a member's answer carries that clients read.
		w.Header().Set("Warning", `299 - "member warning"`)
		w.Header().Set("Audit-Id", "member-audit-id")
		w.Header().Set("Content-Type", "application/vnd.e2e+json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, `{"compressed":true}`)
		_ = zw.Close()
		return
	case req.URL.Path == "/redirect":
		http.Redirect(w, req, "/redirected", http.StatusFound)
		return
	case strings.HasPrefix(req.URL.Path, "/status/"):
		code, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/status/"))
		if err != nil {
			code = http.StatusBadRequest
		}
		switch code {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="member"`)
		case http.StatusProxyAuthRequired:
			w.Header().Set("Proxy-Authenticate", `Basic realm="member-proxy"`)
		}
		w.WriteHeader(code)
	}
	w.Write(body)
}

// switchUnasked answers 101 Switching Protocols to "x" and holds the
// connection, for at most 15 s, until the other end closes it.
func (r *recorder) switchUnasked(w http.ResponseWriter) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	r.switched.Add(1)
	defer r.switched.Add(-1)
	_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	_ = rw.Flush()
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, _ = io.Copy(io.Discard, rw)
}

// upgrade switches protocols, choosing the first protocol the client
// offered, and echoes what it reads until the client closes.
func (r *recorder) upgrade(w http.ResponseWriter, req *http.Request) {
	header := "Connection: Upgrade\r\n"
	if strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		header += "Upgrade: websocket\r\n" +
			"Sec-WebSocket-Accept: " + websocketAccept(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
			"Sec-WebSocket-Protocol: " + firstToken(req.Header.Values("Sec-WebSocket-Protocol")) + "\r\n"
	} else {
		header += "Upgrade: " + req.Header.Get("Upgrade") + "\r\n" +
			"X-Stream-Protocol-Version: " + firstToken(req.Header.Values("X-Stream-Protocol-Version")) + "\r\n"
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\n%s\r\n", header)
	if rw.Flush() != nil {
		return
	}
	echo(rw.Reader, conn)
}

// echo copies what it reads back, flushing each read at once.
func echo(in *bufio.Reader, out io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// websocketAccept is the Sec-WebSocket-Accept answer to key (RFC 6455).
func websocketAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// firstToken is the first of the comma-separated values.
func firstToken(values []string) string {
	for _, v := range values {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok
			}
		}
	}
	return ""
}
