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
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// hostileCase is a set of headers a hostile caller adds to a request.
type hostileCase struct {
	name   string
	header http.Header
	// hopByHop: the case needs HTTP/1.1 (HTTP/2 has no such headers).
	hopByHop bool
	// refused: the hub's or the server's impersonation filter refuses the
	// request (403) before it reaches the proxy, as the user may not
	// impersonate.
	refused bool
}

// hostileCases are the header tricks of a caller who wants to reach a
// member as someone else, or with its own credential.
func hostileCases() []hostileCase {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = append(h[kv[i]], kv[i+1])
		}
		return h
	}
	return []hostileCase{
		{name: "Connection names the identity headers", hopByHop: true,
			header: hdr("Connection", "Impersonate-User, Impersonate-Group, Impersonate-Uid, Impersonate-Extra-Authentication.kubernetes.io%2fcredential-id")},
		{name: "Connection in lower case", hopByHop: true, header: hdr("Connection", "impersonate-user,impersonate-group")},
		{name: "Connection in upper case", hopByHop: true, header: hdr("Connection", "IMPERSONATE-USER", "Connection", "IMPERSONATE-GROUP")},
		{name: "Connection names Authorization", hopByHop: true, header: hdr("Connection", "Authorization")},
		{name: "Proxy-Connection", hopByHop: true, header: hdr("Proxy-Connection", "Impersonate-User, Impersonate-Group")},
		{name: "Keep-Alive", hopByHop: true, header: hdr("Keep-Alive", "timeout=5, Impersonate-User", "Connection", "Keep-Alive, Impersonate-User")},
		{name: "TE", hopByHop: true, header: hdr("Te", "trailers", "Connection", "TE, Impersonate-Group")},
		{name: "Upgrade without Connection", hopByHop: true, header: hdr("Upgrade", "websocket")},
		{name: "forged Impersonate-*", refused: true, header: hdr("Impersonate-User", "system:admin", "Impersonate-Group", "system:masters",
			"Impersonate-Uid", "0", "Impersonate-Extra-Scopes", "all")},
		{name: "duplicated Impersonate-User", refused: true, header: hdr("Impersonate-User", "system:admin", "Impersonate-User", "root",
			"Impersonate-Group", "system:masters", "Impersonate-Group", "system:nodes")},
		{name: "front-proxy X-Remote-*", header: hdr("X-Remote-User", "system:admin", "X-Remote-Group", "system:masters",
			"X-Remote-Extra-Scopes", "all", "X-Remote-User", "root")},
		{name: "underscores for dashes", header: hdr("Impersonate_User", "system:admin", "X_Remote_Group", "system:masters")},
		{name: "caller credentials", header: hdr("Authorization", "Bearer attacker-token", "Cookie", "session=attacker", "Proxy-Authorization", "Basic YTpi")},
		{name: "bearer token as a WebSocket subprotocol", header: hdr("Sec-WebSocket-Protocol", "base64url.bearer.authorization.k8s.io.YXR0YWNrZXItdG9rZW4, v5.channel.k8s.io")},
	}
}

// route is a way to clusters-apiserver: through the hub or straight to its
// port, over HTTP/1.1 or HTTP/2.
type route struct {
	name  string
	base  string
	tls   *tls.Config
	http2 bool
}

// routesFor are the four routes for the user of kubeconfig.
func routesFor(t *testing.T, kubeconfig string) []route {
	hub, direct := hubTLS(t, kubeconfig), serverTLSAs(t, kubeconfig)
	return []route{
		{"hub/HTTP1.1", env.HubURL, hub, false},
		{"hub/HTTP2", env.HubURL, hub, true},
		{"direct/HTTP1.1", env.ServerURL, direct, false},
		{"direct/HTTP2", env.ServerURL, direct, true},
	}
}

// do sends one request over r and returns its response, with the protocol
// the connection used.
func (r route) do(t *testing.T, method, path string, header http.Header) (response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, r.base+path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	tr := &http.Transport{TLSClientConfig: r.tls.Clone(), ForceAttemptHTTP2: r.http2}
	if !r.http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, header: resp.Header, body: body}, resp.Proto
}

// memberSawOnly checks that the member got the source credential and the
// hub user's identity, and nothing else that identifies anyone.
func memberSawOnly(t *testing.T, got http.Header, user string, groups []string) {
	t.Helper()
	identity := http.Header{}
	for k, vs := range got {
		l := strings.ToLower(strings.ReplaceAll(k, "_", "-"))
		if strings.HasPrefix(l, "impersonate-") || strings.HasPrefix(l, "x-remote-") ||
			l == "authorization" || l == "cookie" || l == "proxy-authorization" {
			identity[k] = vs
		}
	}
	// A client certificate user's one extra, set by the authenticator.
	const credentialID = "Impersonate-Extra-Authentication.kubernetes.io%2fcredential-Id"
	if id := identity.Values(credentialID); len(id) != 1 || !strings.HasPrefix(id[0], "X509SHA256=") {
		t.Errorf("the member got %s %q, want the client certificate's one X509SHA256= id", credentialID, id)
	}
	delete(identity, credentialID)
	want := http.Header{"Authorization": {"Bearer " + recorderToken}, "Impersonate-User": {user}}
	if len(groups) > 0 {
		want["Impersonate-Group"] = groups
	}
	if diff := cmp.Diff(want, identity); diff != "" {
		t.Errorf("identity headers the member got (-want +got):\n%s", diff)
	}
	for _, p := range got.Values("Sec-Websocket-Protocol") {
		if strings.Contains(p, "bearer") {
			t.Errorf("the member got a bearer subprotocol: %q", p)
		}
	}
}

// TestProxyHostileHeaders sends every hostileCase as an ordinary hub user
// allowed get and create on the recorder's proxy, through the hub and
// straight to the server's port, over HTTP/1.1 and HTTP/2, as a plain
// request and as a WebSocket upgrade, and checks exactly which identity
// headers reach the member.
func TestProxyHostileHeaders(t *testing.T) {
	rec := startRecorder(t)
	const user = "e2e-hostile"
	kc := mustUser(t, user, "e2e-hostiles")
	bindClusterRole(t, "e2e-hostile", user, proxyRule([]string{"get", "create"}, recorderCluster))

	for _, r := range routesFor(t, kc) {
		for i, hc := range hostileCases() {
			if hc.hopByHop && r.http2 {
				continue // HTTP/2 has no connection-specific headers
			}
			t.Run(r.name+"/plain/"+hc.name, func(t *testing.T) {
				path := fmt.Sprintf("/hostile/%s/plain/%d", strings.ReplaceAll(r.name, "/", "-"), i)
				resp, proto := r.do(t, http.MethodGet, harness.ProxyPath(recorderCluster, path)+"?q=1&q=2", hc.header)
				if hc.refused {
					if resp.code != http.StatusForbidden || len(rec.requests(path)) != 0 {
						t.Fatalf("%s: %d %s, and the member got %d requests; want 403 and none", proto, resp.code, resp.body, len(rec.requests(path)))
					}
					return
				}
				if resp.code != http.StatusOK {
					t.Fatalf("%s: %d %s", proto, resp.code, resp.body)
				}
				if wantProto := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[r.http2]; proto != wantProto {
					t.Errorf("the request went over %s, want %s", proto, wantProto)
				}
				got := rec.request(t, path)
				if got.query != "q=1&q=2" {
					t.Errorf("the member got query %q, want q=1&q=2", got.query)
				}
				memberSawOnly(t, got.header, user, []string{"e2e-hostiles"})
			})
			if r.http2 {
				continue // upgrades are HTTP/1.1
			}
			t.Run(r.name+"/upgrade/"+hc.name, func(t *testing.T) {
				path := fmt.Sprintf("/hostile/%s/upgrade/%d", strings.ReplaceAll(r.name, "/", "-"), i)
				header := upgrades()[1].header.Clone() // WebSocket
				for k, vs := range hc.header {
					if k == "Connection" {
						header[k] = []string{"Upgrade, " + strings.Join(vs, ", ")}
						continue
					}
					header[k] = append(header[k], vs...)
				}
				resp, conn, br := dialUpgrade(t, r.tls, r.base+harness.ProxyPath(recorderCluster, path)+"?command=id&command=-u", header)
				if hc.refused {
					if resp.StatusCode != http.StatusForbidden || len(rec.requests(path)) != 0 {
						t.Fatalf("%s, and the member got %d requests; want 403 and none", resp.Status, len(rec.requests(path)))
					}
					return
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
					t.Fatalf("upgrade: %s %s", resp.Status, body)
				}
				echoRoundTrip(t, conn, br)
				got := rec.request(t, path)
				if got.query != "command=id&command=-u" {
					t.Errorf("the member got query %q, want command=id&command=-u", got.query)
				}
				memberSawOnly(t, got.header, user, []string{"e2e-hostiles"})
			})
		}
	}
}
