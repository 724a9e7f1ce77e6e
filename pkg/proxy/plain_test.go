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
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// received is what a member got, or what a client got back.
type received struct {
	Method, URI, Host, Body string
	Status                  int
	Header                  http.Header
}

// TestServePlainSendsWhatUpgradeAwareHandlerSent sends the same requests,
// hostile hop-by-hop headers included, through servePlain and through
// UpgradeAwareHandler as the proxy used it before, and checks that the
// member receives the same requests and the client the same responses,
// errors included.
func TestServePlainSendsWhatUpgradeAwareHandlerSent(t *testing.T) {
	t.Parallel()
	got := make(chan received, 1)
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{Method: r.Method, URI: r.RequestURI, Host: r.Host, Body: string(body), Header: r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Audit-Id", "a-1")
		w.Header().Set("Connection", "X-Dropped")
		w.Header().Set("X-Dropped", "1")
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusForbidden)
		}
		_, _ = io.WriteString(w, `{"kind":"Status"}`)
	}))
	defer member.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	serve := func(upgradeAware bool, server string) *httptest.Server {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			location, err := memberLocation(server, r.URL.Path)
			if err != nil {
				t.Error(err)
				return
			}
			errs := errorResponder{cluster: "m", responder: testResponder{w}}
			if !upgradeAware {
				servePlain(w, r, location, tr, errs)
				return
			}
			h := proxy.NewUpgradeAwareHandler(location, tr, false, false, errs)
			h.UseLocationHost = true
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		down                     bool
	}{
		{name: "get with query", method: http.MethodGet, path: "/api/v1/namespaces?limit=5&labelSelector=a%3Db", header: http.Header{"User-Agent": {"kubectl/v1.37.0"}, "Accept": {"application/json"}}},
		{name: "no user agent, trailing slash", method: http.MethodGet, path: "/apis/"},
		{name: "post with body", method: http.MethodPost, path: "/api/v1/namespaces", body: `{"metadata":{"name":"x"}}`, header: http.Header{"Content-Type": {"application/json"}}},
		{name: "head", method: http.MethodHead, path: "/version"},
		{name: "member refuses", method: http.MethodDelete, path: "/api/v1/namespaces/x/fail"},
		{name: "hop-by-hop headers", method: http.MethodGet, path: "/version", header: http.Header{
			"Connection":       {"User-Agent, X-Custom, Accept"},
			"X-Custom":         {"1"},
			"Accept":           {"*/*"},
			"User-Agent":       {"mallory"},
			"Keep-Alive":       {"timeout=5"},
			"Proxy-Connection": {"keep-alive"},
			"Te":               {"trailers"},
			"X-Forwarded-For":  {"203.0.113.9"},
		}},
		{name: "member down", method: http.MethodGet, path: "/version", down: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent, answered [2]received
			for i, upgradeAware := range []bool{false, true} {
				server := member.URL
				if tc.down {
					server = down.URL
				}
				srv := serve(upgradeAware, server)
				req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
				for k, vs := range tc.header {
					req.Header[k] = vs
				}
				if _, ok := tc.header["User-Agent"]; !ok {
					req.Header["User-Agent"] = nil // none at all
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				resp.Header.Del("Date")
				answered[i] = received{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
				if !tc.down {
					sent[i] = <-got
					sent[i].Host = strings.Replace(sent[i].Host, srv.Listener.Addr().String(), "PROXY", 1)
				}
			}
			if diff := cmp.Diff(sent[1], sent[0]); diff != "" {
				t.Errorf("the member received (-UpgradeAwareHandler +servePlain):\n%s", diff)
			}
			if diff := cmp.Diff(answered[1], answered[0]); diff != "" {
				t.Errorf("the client received (-UpgradeAwareHandler +servePlain):\n%s", diff)
			}
			if tc.down && answered[0].Status != http.StatusServiceUnavailable {
				t.Errorf("a member that is down: %d %q, want 503", answered[0].Status, answered[0].Body)
			}
		})
	}
}

// TestServePlainFlushesStreams checks that each event of a response of
// unknown length (a watch) reaches the client while the member is still
// writing, and that a response of known length arrives whole.
func TestServePlainFlushesStreams(t *testing.T) {
	t.Parallel()
	next := make(chan struct{})
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "" {
			big := strings.Repeat("x", 3*copyBufferSize+7)
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = io.WriteString(w, big)
			return
		}
		for i := range 3 {
			_, _ = io.WriteString(w, `{"type":"ADDED","n":`+string(rune('0'+i))+"}\n")
			http.NewResponseController(w).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer member.Close()
	srv := plainProxy(t, member.URL, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang, not a goal
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/pods?watch=1", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := lines.ReadString('\n')
		if err != nil || !strings.Contains(line, `"n":`+string(rune('0'+i))) {
			t.Fatalf("event %d: %q, %v (the member waits for it to arrive before writing the next)", i, line, err)
		}
		next <- struct{}{}
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/configmaps", http.NoBody)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 3*copyBufferSize+7 || resp.ContentLength != int64(len(body)) {
		t.Fatalf("list: %d bytes of Content-Length %d, %v", len(body), resp.ContentLength, err)
	}
}

// TestServePlainFlushesSlowResponsesOfKnownLength checks that the status
// and the first bytes of a response with a Content-Length reach the client
// while the member is still writing it (a service behind the member's
// services/proxy that trickles its body, say).
func TestServePlainFlushesSlowResponsesOfKnownLength(t *testing.T) {
	t.Parallel()
	more := make(chan struct{})
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "first")
		http.NewResponseController(w).Flush()
		select {
		case <-more:
			_, _ = io.WriteString(w, "later")
		case <-r.Context().Done():
		}
	}))
	defer member.Close()
	srv := plainProxy(t, member.URL, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang, not a goal
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces/default/services/s/proxy/", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the status did not arrive while the member was writing: %v", err)
	}
	defer resp.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("the first bytes did not arrive while the member was writing: %q, %v", first, err)
	}
	close(more)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "later" {
		t.Fatalf("the rest: %q, %v", rest, err)
	}
}

// TestServePlainIdentityAfterHopByHop sends a caller's forged identity and
// credentials, and a Connection header naming the headers the proxy sets,
// through servePlain and the forwarder: the member still gets the hub
// user's identity and none of the caller's.
func TestServePlainIdentityAfterHopByHop(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	member := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer member.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	srv := plainProxy(t, member.URL, &forwarder{cluster: "m", identity: &Identity{}, next: tr, closed: context.Background()})

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/secrets", http.NoBody)
	req.Header = http.Header{
		"Connection":        {"Impersonate-User, Impersonate-Group, Authorization"},
		"Impersonate-User":  {"mallory"},
		"Impersonate-Group": {"system:masters"},
		"Impersonate_User":  {"mallory"},
		"X-Remote-User":     {"mallory"},
		"Authorization":     {"Bearer caller-token"},
		"Cookie":            {"session=caller"},
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-got
	for name, want := range map[string][]string{
		"Impersonate-User":  {"alice"},
		"Impersonate-Group": {"dev"},
		"Impersonate_user":  nil,
		"X-Remote-User":     nil,
		"Authorization":     nil,
		"Cookie":            nil,
	} {
		if diff := cmp.Diff(want, h[name]); diff != "" {
			t.Errorf("%s at the member (-want +got):\n%s", name, diff)
		}
	}
}

// TestServePlainPooledBuffersKeepBodiesApart copies many responses of
// different sizes and contents at once through the pooled buffers and
// checks that each arrives whole and unmixed.
func TestServePlainPooledBuffersKeepBodiesApart(t *testing.T) {
	t.Parallel()
	body := func(n int) string { return strings.Repeat(string(rune('a'+n%26)), 1000+n*4099) }
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n%2 == 0 {
			w.Header().Set("Content-Length", strconv.Itoa(len(body(n))))
		}
		_, _ = io.WriteString(w, body(n))
	}))
	defer member.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	srv := plainProxy(t, member.URL, tr)

	var wg sync.WaitGroup
	for n := range 32 {
		wg.Go(func() {
			for range 4 {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/configmaps?n="+strconv.Itoa(n), http.NoBody)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(got) != body(n) {
					t.Errorf("response %d: %d bytes (want %d), %v", n, len(got), len(body(n)), err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// plainProxy serves servePlain toward the member at server over forward
// (a transport of its own if nil), as alice of group dev.
func plainProxy(t *testing.T, server string, forward http.RoundTripper) *httptest.Server {
	srv := httptest.NewServer(plainHandler(t, server, forward))
	t.Cleanup(srv.Close)
	return srv
}

// plainHandler is plainProxy's handler.
func plainHandler(t *testing.T, server string, forward http.RoundTripper) http.Handler {
	if forward == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		forward = tr
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := genericapirequest.WithUser(r.Context(), &user.DefaultInfo{Name: "alice", Groups: []string{"dev"}})
		location, err := memberLocation(server, r.URL.Path)
		if err != nil {
			t.Error(err)
			return
		}
		servePlain(w, r.WithContext(ctx), location, forward, errorResponder{cluster: "m", responder: testResponder{w}})
	})
}

// BenchmarkPlainPath measures what forwarding a small GET costs the proxy
// in memory, with the member's answer from memory: servePlain against
// UpgradeAwareHandler as the proxy used it before.
func BenchmarkPlainPath(b *testing.B) {
	answer := strings.Repeat("x", 1500)
	member := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{
			StatusCode: http.StatusOK, ProtoMajor: 2, Request: req, ContentLength: int64(len(answer)),
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(answer)),
		}, nil
	})
	location, _ := memberLocation("https://member:6443", "/api/v1/namespaces/default")
	for _, upgradeAware := range []bool{false, true} {
		b.Run(map[bool]string{false: "servePlain", true: "UpgradeAwareHandler"}[upgradeAware], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default", http.NoBody)
				req.Header.Set("Accept", "application/json")
				w := httptest.NewRecorder()
				errs := errorResponder{cluster: "m", responder: testResponder{w}}
				if upgradeAware {
					h := proxy.NewUpgradeAwareHandler(location, member, false, false, errs)
					h.UseLocationHost = true
					h.ServeHTTP(w, req)
				} else {
					servePlain(w, req, location, member, errs)
				}
				if w.Code != http.StatusOK || w.Body.Len() != len(answer) {
					b.Fatalf("%d, %d bytes", w.Code, w.Body.Len())
				}
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// TestServePlainRefusesUnaskedSwitch: a member that answers a plain
// request over HTTP/1.1 with 101 Switching Protocols, with or without the
// upgrade headers, gets a 502 naming it back to the client, and loses the
// connection (with the headers, http.Transport hands it over as the body,
// and only closing that body closes it before the collector does).
func TestServePlainRefusesUnaskedSwitch(t *testing.T) {
	t.Parallel()
	for name, header := range map[string]string{
		"upgrade headers": "Connection: Upgrade\r\nUpgrade: x\r\n",
		"no headers":      "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{})
			member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n" + header + "\r\n")
				_ = rw.Flush()
				// Held until the proxy closes its end, or the test ends.
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, err = io.Copy(io.Discard, rw)
				if err == nil {
					close(closed)
				}
			}))
			defer member.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			srv := plainProxy(t, member.URL, &forwarder{cluster: "m", identity: &Identity{}, next: tr, closed: context.Background()})

			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/namespaces", http.NoBody)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `cluster \"m\" switched protocols (101) on a request that asked for no upgrade`) {
				t.Errorf("got %d %s; want a 502 Status that names the member and the 101", resp.StatusCode, body)
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Error("the connection the member switched is still open")
			}
		})
	}
}

// TestServePlainDropsInformational101: an HTTP/2 member's 101, which Go's
// HTTP/2 client hands to ReverseProxy as an informational answer, does not
// reach the client, over HTTP/1.1 (where it would be final, with the
// member's headers) or HTTP/2; the member's final answer does, and other
// informational answers still pass.
func TestServePlainDropsInformational101(t *testing.T) {
	t.Parallel()
	member := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Upgrade", "x")
		w.Header().Set("X-Member-Switch", "yes")
		w.WriteHeader(http.StatusSwitchingProtocols)
		w.Header().Del("Upgrade")
		w.Header().Del("X-Member-Switch")
		w.Header().Set("Link", "</hint>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "final answer")
	}))
	member.EnableHTTP2 = true
	member.StartTLS()
	defer member.Close()
	tr := member.Client().Transport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	srv := httptest.NewUnstartedServer(plainHandler(t, member.URL, &forwarder{cluster: "m", identity: &Identity{}, next: tr, closed: context.Background()}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	for _, http2 := range []bool{false, true} {
		ctr := srv.Client().Transport.(*http.Transport).Clone()
		if !http2 {
			ctr.Protocols = new(http.Protocols)
			ctr.Protocols.SetHTTP1(true)
			ctr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		client := &http.Client{Transport: ctr}
		var informational []int
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
				informational = append(informational, code)
				return nil
			},
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/namespaces", http.NoBody)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("HTTP/2 %v: %v", http2, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK || string(body) != "final answer" || resp.Header.Get("X-Member-Switch") != "" || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[http2] {
			t.Errorf("HTTP/2 %v: got %s %d %v %q; want HTTP/%d 200 with the member's final answer alone", http2, resp.Proto, resp.StatusCode, resp.Header, body, map[bool]int{false: 1, true: 2}[http2])
		}
		if !slices.Equal(informational, []int{http.StatusEarlyHints}) {
			t.Errorf("HTTP/2 %v: informational answers %v, want [103]", http2, informational)
		}
	}
}
