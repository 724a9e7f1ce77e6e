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
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

func TestIsWatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, query string
		want                bool
	}{
		{"GET", "/api/v1/namespaces", "watch=1", true},
		{"GET", "api/v1/namespaces/ns/configmaps", "watch=true", true},
		{"GET", "/apis/apps/v1/deployments", "watch=true&resourceVersion=5", true},
		{"GET", "/api/v1/watch/namespaces/ns/pods", "", true},
		{"GET", "/api/v1/watch/namespaces/ns/pods/p", "", true},
		{"GET", "/api/v1/namespaces", "watch=True", true},
		{"GET", "/api/v1/namespaces", "watch=yes&limit=x", false},
		{"GET", "/api/v1/namespaces", "watch=1;x", false},
		{"GET", "/api/v1/namespaces", "watch=0", false},
		{"GET", "/api/v1/namespaces", "watch=false", false},
		{"GET", "/api/v1/namespaces", "", false},
		{"POST", "/api/v1/namespaces", "watch=1", false},
		{"HEAD", "/api/v1/namespaces", "watch=1", false},
		{"GET", "/api/v1/namespaces/ns/pods/p", "watch=1", false},
		{"GET", "/api/v1/namespaces/ns/pods/p/exec", "command=sh&watch=1", false},
		{"GET", "/api/v1/namespaces/ns/pods/p/attach", "watch=true", false},
		{"GET", "/api/v1/namespaces/ns/pods/p/portforward", "ports=80&watch=1", false},
		{"GET", "/api/v1/namespaces/ns/pods/p/proxy", "watch=1", false},
		{"GET", "/api/v1/namespaces/ns/services/s/proxy/x", "watch=1", false},
		{"GET", "/api/v1/nodes/n/proxy/x", "watch=1", false},
		{"GET", "/api/v1/watch/namespaces/ns/pods/p/exec", "command=sh", false},
		{"GET", "/api/v1/proxy/namespaces/ns/pods/p", "watch=1", false},
		{"GET", "/healthz", "watch=1", false},
		{"GET", "/prefix/api/v1/namespaces", "watch=1", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+"?"+tc.query, func(t *testing.T) {
			if got := isWatch(tc.method, tc.path, tc.query); got != tc.want {
				t.Errorf("isWatch = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUpgradeHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Connection":       {"Upgrade, Impersonate-User", "keep-alive, X-Custom, X-Forwarded-For"},
		"X-Forwarded-For":  {"192.0.2.1"},
		"Upgrade":          {"websocket"},
		"Impersonate-User": {"mallory"},
		"X-Custom":         {"v"},
		"Keep-Alive":       {"timeout=5"},
		"Proxy-Connection": {"keep-alive"},
		"Te":               {"trailers"},
		"Trailer":          {"X"},
		"Accept":           {"*/*"},
	}
	upgradeHeaders(h)
	want := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Accept": {"*/*"}, "X-Forwarded-For": {"192.0.2.1"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestScrubHeadersBearerSubprotocol(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.dG9rZW4, v5.channel.k8s.io", "BASE64URL.BEARER.AUTHORIZATION.K8S.IO.eA"},
		"Impersonate_user":       {"x"},
		"Sec_websocket_protocol": {"base64url.bearer.authorization.k8s.io.eQ"},
		"X-REMOTE-USER":          {"y"},
	}
	scrubHeaders(h)
	want := http.Header{"Sec-Websocket-Protocol": {"v5.channel.k8s.io"}}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	h = http.Header{"Sec-Websocket-Protocol": {"base64url.bearer.authorization.k8s.io.dG9rZW4"}}
	scrubHeaders(h)
	if len(h) != 0 {
		t.Errorf("a bearer-only subprotocol header was kept: %v", h)
	}
}

// upgradeMember is a member that records each request and switches
// protocols on upgrades, then echoes.
type upgradeMember struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpgradeMember(t *testing.T, answer func(w http.ResponseWriter, r *http.Request) bool) *upgradeMember {
	m := &upgradeMember{}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.seen = append(m.seen, r.Clone(context.Background()))
		m.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", r.Header.Get("Upgrade"))
		_ = rw.Flush()
		_, _ = io.Copy(conn, rw)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *upgradeMember) requests() []*http.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*http.Request(nil), m.seen...)
}

// connectProxy is an HTTP CONNECT proxy that records the targets.
type connectProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.targets = append(p.targets, r.Host)
		p.mu.Unlock()
		backend, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer backend.Close()
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { _, _ = io.Copy(backend, rw) }()
		_, _ = io.Copy(conn, backend)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// testResponder writes errors as a status code and message.
type testResponder struct{ w http.ResponseWriter }

func (r testResponder) Object(code int, _ runtime.Object) { r.w.WriteHeader(code) }
func (r testResponder) Error(err error) {
	code := http.StatusInternalServerError
	if s, ok := err.(interface{ Status() metav1.Status }); ok {
		code = int(s.Status().Code)
	}
	http.Error(r.w, err.Error(), code)
}

// serveProxy serves p's handler for cluster as alice (or the user a
// Test-User header names), with requests already authorized as create, on
// a plain HTTP server of the test.
func serveProxy(t *testing.T, p *Proxy, cluster string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "alice"
		if u := r.Header.Get("Test-User"); u != "" {
			name = u
		}
		ctx := genericapirequest.WithUser(r.Context(), &user.DefaultInfo{Name: name, Groups: []string{"dev"}})
		ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{Verb: "create", Name: cluster})
		h, err := p.Handler(cluster, r.URL.Path, testResponder{w})
		if err != nil {
			testResponder{w}.Error(err)
			return
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// upgradeThrough sends a WebSocket-style upgrade for path?query to srv,
// with extra headers, and returns the status and, after a 101, whether
// bytes came back.
func upgradeThrough(t *testing.T, srv *httptest.Server, target string, extra http.Header) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // bounds a hang, not a goal
	req, _ := http.NewRequest(http.MethodGet, srv.URL+target, http.NoBody)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	for k, vs := range extra {
		req.Header[k] = vs
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, _ = io.WriteString(conn, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	return resp.StatusCode, string(got)
}

// memberProxy returns a Proxy whose inventory holds one member, cluster
// "m", at server with the given proxy URL (none if empty).
func memberProxy(t *testing.T, server string, ca []byte, proxyURL string, timeouts member.Timeouts) *Proxy {
	cfg := &rest.Config{Host: server, BearerToken: "member-token", TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	if proxyURL != "" {
		u, err := url.Parse(proxyURL)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Proxy = http.ProxyURL(u)
	}
	inv := inventory.New()
	inv.Replace("src", []inventory.Member{{Name: "m", Origin: "o", Access: inventory.Access{Config: cfg, Hash: server, Impersonate: true}}})
	return New(inv, member.NewTransports(member.Options{Timeouts: timeouts}), nil, Identity{}, DefaultLimits())
}

func caPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// TestUpgradeKeepsQueryAndIdentityThroughProxyURL sends an upgrade that
// names identity headers in Connection to a member reached through its
// proxy-url: the member gets the client's query, the member credential and
// alice's identity, and the proxy saw the CONNECT.
func TestUpgradeKeepsQueryAndIdentityThroughProxyURL(t *testing.T) {
	t.Parallel()
	upstream := newUpgradeMember(t, nil)
	connect := newConnectProxy(t)
	p := memberProxy(t, upstream.srv.URL, caPEM(upstream.srv), connect.srv.URL, member.Timeouts{Dial: 5 * time.Second, TLSHandshake: 5 * time.Second, ResponseHeader: 5 * time.Second})
	srv := serveProxy(t, p, "m")

	code, echoed := upgradeThrough(t, srv, "/api/v1/namespaces/ns/pods/p/exec?command=echo&command=hi&output=1",
		http.Header{"Connection": {"Upgrade, Impersonate-User, Authorization"}, "Impersonate-User": {"mallory"}, "Authorization": {"Bearer caller"}})
	if code != http.StatusSwitchingProtocols || echoed != "ping" {
		t.Fatalf("upgrade: %d %q; want 101 and the echo", code, echoed)
	}
	got := upstream.requests()
	if len(got) != 1 {
		t.Fatalf("the member got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.URL.Path != "/api/v1/namespaces/ns/pods/p/exec" || r.URL.RawQuery != "command=echo&command=hi&output=1" {
		t.Errorf("the member got %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	for k, want := range map[string][]string{
		"Authorization": {"Bearer member-token"}, "Impersonate-User": {"alice"}, "Impersonate-Group": {"dev"},
		"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
	} {
		if diff := cmp.Diff(want, r.Header.Values(k)); diff != "" {
			t.Errorf("the member got %s (-want +got):\n%s", k, diff)
		}
	}
	memberHost := strings.TrimPrefix(upstream.srv.URL, "https://")
	connect.mu.Lock()
	defer connect.mu.Unlock()
	if diff := cmp.Diff([]string{memberHost}, connect.targets); diff != "" {
		t.Errorf("CONNECT targets (-want +got):\n%s", diff)
	}
}

// TestUpgradeTimeLimits checks that an upgrade to a member that never
// finishes the TLS handshake, or never answers, ends with 503 instead of
// holding the request.
func TestUpgradeTimeLimits(t *testing.T) {
	t.Parallel()
	// Accepts connections and never says a word.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	// Handshakes, reads the request and never answers.
	stalled := make(chan struct{})
	defer close(stalled)
	mute := newUpgradeMember(t, func(http.ResponseWriter, *http.Request) bool { <-stalled; return true })

	timeouts := member.Timeouts{Dial: time.Second, TLSHandshake: 200 * time.Millisecond, ResponseHeader: 200 * time.Millisecond}
	tests := []struct {
		name   string
		server string
		ca     []byte
	}{
		{"TLS handshake", "https://" + silent.Addr().String(), caPEM(mute.srv)},
		{"response headers", mute.srv.URL, caPEM(mute.srv)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveProxy(t, memberProxy(t, tc.server, tc.ca, "", timeouts), "m")
			code, body := upgradeThrough(t, srv, "/api/v1/namespaces/ns/pods/p/exec?command=id", nil)
			if code != http.StatusServiceUnavailable {
				t.Errorf("got %d %q; want 503", code, body)
			}
		})
	}
}

// TestUpgradeMemberRefusals checks the answers to upgrades the member
// refuses: its 401 becomes a 502 naming it, its 403 passes as it is, a 200
// is a 502.
func TestUpgradeMemberRefusals(t *testing.T) {
	t.Parallel()
	upstream := newUpgradeMember(t, func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/401":
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		case "/403":
			http.Error(w, "member says no", http.StatusForbidden)
		case "/200":
			_, _ = io.WriteString(w, "not an upgrade")
		default:
			return false
		}
		return true
	})
	srv := serveProxy(t, memberProxy(t, upstream.srv.URL, caPEM(upstream.srv), "", member.Timeouts{}), "m")
	tests := []struct {
		path     string
		wantCode int
		wantBody string
	}{
		{"/401", http.StatusBadGateway, `cluster "m" refused the credential clusters-apiserver uses for it (401 Unauthorized): Unauthorized`},
		{"/403", http.StatusForbidden, "member says no"},
		{"/200", http.StatusBadGateway, `cluster "m" did not switch protocols: it answered 200 OK`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			code, body := upgradeThrough(t, srv, tc.path, nil)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Errorf("got %d %q; want %d with %q", code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// TestUpgradedStreamsEndWhenAccessChanges checks that an open upgraded
// stream is closed when the member's transport is dropped.
func TestUpgradedStreamsEndWhenAccessChanges(t *testing.T) {
	t.Parallel()
	upstream := newUpgradeMember(t, nil)
	p := memberProxy(t, upstream.srv.URL, caPEM(upstream.srv), "", member.Timeouts{})
	srv := serveProxy(t, p, "m")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // bounds a hang, not a goal
	fmt.Fprintf(conn, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	p.transports.Drop("m")
	if _, err := io.ReadAll(br); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the stream did not end after its transport was dropped: %v", err)
	}
}

// TestPlainStreamsEndWhenAccessChanges checks that a streaming plain
// response (a watch) ends when the member's transport is dropped.
func TestPlainStreamsEndWhenAccessChanges(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	defer upstream.Close()
	p := memberProxy(t, upstream.URL, caPEM(upstream), "", member.Timeouts{})
	srv := serveProxy(t, p, "m")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang, not a goal
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces?watch=1", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", resp, err)
	}
	defer resp.Body.Close()
	p.transports.Drop("m")
	_, _ = io.ReadAll(resp.Body)
	if ctx.Err() != nil {
		t.Fatal("the watch did not end after its transport was dropped")
	}
}

// TestUpgradeWithBodyIsRefused checks that an upgrade request with a body
// never reaches the member.
func TestUpgradeWithBodyIsRefused(t *testing.T) {
	t.Parallel()
	upstream := newUpgradeMember(t, nil)
	srv := serveProxy(t, memberProxy(t, upstream.srv.URL, caPEM(upstream.srv), "", member.Timeouts{}), "m")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /api/v1/namespaces?watch=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an upgrade with a body: %v %v; want 400", resp, err)
	}
	if n := len(upstream.requests()); n != 0 {
		t.Errorf("the member got %d requests", n)
	}
}

// TestUpgradeOnADroppedTransportIsNotSent checks that an upgrade whose
// member transport was dropped (its access changed) after the handler
// took it is refused without dialing: nothing goes out with the old
// credential.
func TestUpgradeOnADroppedTransportIsNotSent(t *testing.T) {
	t.Parallel()
	upstream := newUpgradeMember(t, nil)
	p := memberProxy(t, upstream.srv.URL, caPEM(upstream.srv), "", member.Timeouts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := genericapirequest.WithUser(r.Context(), &user.DefaultInfo{Name: "alice"})
		ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{Verb: "create", Name: "m"})
		h, err := p.Handler("m", r.URL.Path, testResponder{w})
		if err != nil {
			testResponder{w}.Error(err)
			return
		}
		p.transports.Drop("m") // the access changes between the two
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	if code, body := upgradeThrough(t, srv, "/x", nil); code == http.StatusSwitchingProtocols {
		t.Fatalf("the upgrade went through a dropped transport: %d %q", code, body)
	}
	if got := upstream.requests(); len(got) != 0 {
		t.Errorf("the member got %d requests over a dropped transport", len(got))
	}
}
