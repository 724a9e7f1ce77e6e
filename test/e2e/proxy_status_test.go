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
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestProxyMemberRefusalsAreStatuses checks that a member's 401 or 407 and
// its redirects reach the client as a 502 Status naming the member, never
// as a 401 (kubectl and client-go would take it as a verdict on their hub
// credential) or a redirect, on plain and upgrade requests, through the hub
// and straight to the server's port; and that a member switching protocols
// on a plain request gets a 502 too, and loses the connection it switched.
func TestProxyMemberRefusalsAreStatuses(t *testing.T) {
	rec := startRecorder(t)
	kc := mustUser(t, "e2e-refusals")
	bindClusterRole(t, "e2e-refusals", "e2e-refusals", proxyRule([]string{"get", "create"}, recorderCluster))
	paths := []struct {
		path, wantMessage string
		plainOnly         bool // an upgrade request may be switched
	}{
		{"/status/401", "refused the credential clusters-apiserver uses for it (401 Unauthorized)", false},
		{"/status/407", "refused the credential clusters-apiserver uses for it (407 Proxy Authentication Required)", false},
		{"/redirect", "answered with a redirect (302)", false},
		{"/switch", "switched protocols (101) on a request that asked for no upgrade", true},
	}
	for _, r := range routesFor(t, kc) {
		for _, p := range paths {
			check := func(t *testing.T, code int, header http.Header, body []byte) {
				t.Helper()
				var st metav1.Status
				resp := response{code: code, header: header, body: body}
				st = resp.status()
				if code != http.StatusBadGateway || st.Kind != "Status" || st.Code != http.StatusBadGateway ||
					!strings.Contains(st.Message, `cluster "`+recorderCluster+`"`) || !strings.Contains(st.Message, p.wantMessage) {
					t.Errorf("got %d %s; want a 502 Status naming %s that says %q", code, body, recorderCluster, p.wantMessage)
				}
				for _, h := range []string{"WWW-Authenticate", "Proxy-Authenticate", "Location"} {
					if v := header.Get(h); v != "" {
						t.Errorf("the member's %s reached the client: %q", h, v)
					}
				}
			}
			t.Run(r.name+"/plain"+p.path, func(t *testing.T) {
				resp, _ := r.do(t, http.MethodGet, harness.ProxyPath(recorderCluster, p.path), nil)
				check(t, resp.code, resp.header, resp.body)
			})
			if r.http2 || p.plainOnly {
				continue
			}
			t.Run(r.name+"/upgrade"+p.path, func(t *testing.T) {
				resp, _, _ := dialUpgrade(t, r.tls, r.base+harness.ProxyPath(recorderCluster, p.path), upgrades()[1].header)
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				check(t, resp.StatusCode, resp.Header, body)
			})
		}
	}
	if got := rec.requests("/redirected"); len(got) != 0 {
		t.Errorf("a redirect was followed: %d requests for /redirected", len(got))
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return rec.switched.Load() == 0, nil
	}); err != nil {
		t.Errorf("%d connections the member switched unasked are still open", rec.switched.Load())
	}
}

// TestProxyPathTricks sends paths that try to leave a member's server URL
// prefix, through the hub and straight to the port: each is refused, or
// reaches the member inside the prefix.
func TestProxyPathTricks(t *testing.T) {
	rec := startRecorder(t)
	const prefixed = "e2e-recorder-prefixed"
	entry := rec.entry()
	entry.cluster.Server = rec.srv.URL + "/prefix"
	writeSource(t, dynamicSource, map[string]sourceEntry{recorderCluster: rec.entry(), prefixed: entry})
	waitClusters(t, map[string]string{prefixed: rec.srv.URL + "/prefix"})
	kc := mustUser(t, "e2e-path-tricks")
	bindClusterRole(t, "e2e-path-tricks", "e2e-path-tricks", proxyRule([]string{"get"}, prefixed))

	tricks := []string{
		"/../secret", "/a/../../secret", "/%2e%2e/secret", "/%2E%2E/%2e%2e/secret", "/a%2F..%2F..%2Fsecret",
		"/..%5C..%5Csecret", "/;/../secret", "/a/..;/../secret", "/.%2e/secret", "/./../secret",
	}
	for _, r := range routesFor(t, kc) {
		for _, trick := range tricks {
			t.Run(r.name+trick, func(t *testing.T) {
				rec.mu.Lock()
				before := len(rec.seen)
				rec.mu.Unlock()
				resp, _ := r.do(t, http.MethodGet, harness.ProxyPath(prefixed, "")+trick, nil)
				rec.mu.Lock()
				got := append([]recorded(nil), rec.seen[before:]...)
				rec.mu.Unlock()
				for _, g := range got {
					if !strings.HasPrefix(g.path, "/prefix/") || strings.Contains("/"+g.path+"/", "/../") {
						t.Errorf("the member got %q, outside its prefix /prefix/", g.path)
					}
				}
				if len(got) == 0 && resp.code < 400 {
					t.Errorf("%d %s without reaching the member", resp.code, resp.body)
				}
			})
		}
	}
}

// TestProxyVerbFromPathPrefix: a .../watch/clusters/NAME/proxy/... path is
// authorized as watch whatever its method; a user who may watch (as read
// roles allow) must not write to the member through it: every method is
// answered 404 and nothing reaches the member.
func TestProxyVerbFromPathPrefix(t *testing.T) {
	rec := startRecorder(t)
	writeSource(t, dynamicSource, map[string]sourceEntry{recorderCluster: rec.entry()})
	waitClusters(t, map[string]string{recorderCluster: rec.srv.URL})
	kc := mustUser(t, "e2e-watch-verb")
	bindClusterRole(t, "e2e-watch-verb", "e2e-watch-verb", proxyRule([]string{"get", "list", "watch"}, recorderCluster))
	path := "/apis/clusters.headlamp.dev/v1alpha1/watch/clusters/" + recorderCluster + "/proxy/api/v1/namespaces/x/configmaps/y"
	for _, r := range routesFor(t, kc) {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodGet} {
			t.Run(r.name+"/"+method, func(t *testing.T) {
				rec.mu.Lock()
				before := len(rec.seen)
				rec.mu.Unlock()
				resp, _ := r.do(t, method, path, nil)
				rec.mu.Lock()
				got := len(rec.seen) - before
				rec.mu.Unlock()
				if resp.code != http.StatusNotFound || got > 0 {
					t.Errorf("%s %s: %d %s, %d requests reached the member; want 404 and none", method, path, resp.code, resp.body, got)
				}
			})
		}
	}
}

// TestProxyOversizedHeader checks that a request with a header larger than
// the server accepts is refused before it reaches the member.
func TestProxyOversizedHeader(t *testing.T) {
	rec := startRecorder(t)
	big := http.Header{"X-Big": {strings.Repeat("a", 2<<20)}}
	for _, r := range routesFor(t, env.HubKubeconfig) {
		t.Run(r.name, func(t *testing.T) {
			path := "/big/" + strings.ReplaceAll(r.name, "/", "-")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.base+harness.ProxyPath(recorderCluster, path), http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = big
			code := 0
			tr := &http.Transport{TLSClientConfig: r.tls.Clone(), ForceAttemptHTTP2: r.http2}
			defer tr.CloseIdleConnections()
			if resp, err := tr.RoundTrip(req); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			if code != 0 && code < 400 {
				t.Errorf("a 2 MiB header got %d; want it refused", code)
			}
			if got := rec.requests(path); len(got) != 0 {
				t.Errorf("a request with a 2 MiB header reached the member")
			}
		})
	}
}

// TestProxyOptionsVerb checks the verb OPTIONS needs: get straight to
// clusters-apiserver, "*" through the hub (which authorizes OPTIONS with an
// empty verb), as the README says.
func TestProxyOptionsVerb(t *testing.T) {
	startRecorder(t)
	getter := mustUser(t, "e2e-options-get")
	bindClusterRole(t, "e2e-options-get", "e2e-options-get", proxyRule([]string{"get"}, recorderCluster))
	star := mustUser(t, "e2e-options-star")
	bindClusterRole(t, "e2e-options-star", "e2e-options-star", proxyRule([]string{"*"}, recorderCluster))
	tests := []struct {
		name, base string
		tls        *tls.Config
		want       int
	}{
		{"get, straight to the port", env.ServerURL, serverTLSAs(t, getter), http.StatusNoContent},
		{"get, through the hub", env.HubURL, hubTLS(t, getter), http.StatusForbidden},
		{"*, through the hub", env.HubURL, hubTLS(t, star), http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, tc.tls, http.MethodOptions, tc.base+harness.ProxyPath(recorderCluster, "/status/204"), nil, "")
			if resp.code != tc.want {
				t.Errorf("OPTIONS: %d %s; want %d", resp.code, resp.body, tc.want)
			}
		})
	}
}

// TestProxyResponseHeaders checks that the headers clients read on a
// member's answer reach them, with the body as the member compressed it,
// through the hub and straight to the port.
func TestProxyResponseHeaders(t *testing.T) {
	startRecorder(t)
	for _, r := range routesFor(t, env.HubKubeconfig) {
		t.Run(r.name, func(t *testing.T) {
			resp, _ := r.do(t, http.MethodGet, harness.ProxyPath(recorderCluster, "/response-headers"), http.Header{"Accept-Encoding": {"gzip"}})
			if resp.code != http.StatusOK {
				t.Fatalf("%d %s", resp.code, resp.body)
			}
			for k, want := range map[string]string{
				"Warning":          `299 - "member warning"`,
				"Content-Type":     "application/vnd.e2e+json",
				"Content-Encoding": "gzip",
			} {
				if got := resp.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if ids := resp.header.Values("Audit-Id"); !slices.Contains(ids, "member-audit-id") {
				t.Errorf("Audit-Id = %q, want the member's among them", ids)
			}
			zr, err := gzip.NewReader(bytes.NewReader(resp.body))
			if err != nil {
				t.Fatalf("the body is not the member's gzip: %v", err)
			}
			if body, _ := io.ReadAll(zr); string(body) != `{"compressed":true}` {
				t.Errorf("body = %q", body)
			}
		})
	}
}
