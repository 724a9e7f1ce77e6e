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
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// clientOnlyHeaders are headers a client may send that must never reach a
// member: its own credentials and identity claims.
var clientOnlyHeaders = http.Header{
	"Authorization":         {"Bearer client-secret-token"},
	"Cookie":                {"session=client-secret-cookie"},
	"X-Remote-User":         {"e2e-evil"},
	"X-Remote-Group":        {"system:masters"},
	"X-Remote-Uid":          {"e2e-evil-uid"},
	"X-Remote-Extra-Scopes": {"everything"},
}

// TestProxyHeaders checks what identity the recorder sees, for a plain GET
// and for a SPDY upgrade, whichever way the request came in: the source
// credential plus the user's impersonation headers, or (for a source with
// source identity) the source credential alone, and never the client's
// own credentials or identity headers.
func TestProxyHeaders(t *testing.T) {
	rec := startRecorder(t)
	const user = "e2e-header-user"
	userKubeconfig := mustUser(t, user, "e2e-team-a", "e2e-team-b")
	bindClusterRole(t, user, user, proxyRule(allProxyVerbs, recorderCluster, recorderSourceCluster))

	impersonating := http.Header{
		"Impersonate-User":         {user},
		"Impersonate-Group":        {"e2e-team-a"},
		"Impersonate-Uid":          {"e2e-uid-1"},
		"Impersonate-Extra-Scopes": {"scope-a"},
	}
	tests := []struct {
		name    string
		base    string // the hub, or clusters-apiserver itself
		tls     *tls.Config
		cluster string
		send    http.Header
		want    http.Header // exact values; a key with no values must be absent
	}{
		{
			name: "user through the hub", base: env.HubURL, tls: hubTLS(t, userKubeconfig), cluster: recorderCluster,
			send: clientOnlyHeaders,
			want: http.Header{
				"Impersonate-User":  {user},
				"Impersonate-Group": {"e2e-team-a", "e2e-team-b"},
				"Impersonate-Uid":   nil,
			},
		},
		{
			// The hub honours the admin's impersonation; the member sees
			// the impersonated identity, uid and extra included, and
			// nothing of the admin's.
			name: "hub admin impersonating through the hub", base: env.HubURL, tls: hubTLS(t, env.HubKubeconfig), cluster: recorderCluster,
			send: merge(impersonating, http.Header{"Cookie": {"session=client-secret-cookie"}}),
			want: http.Header{
				"Impersonate-User":         {user},
				"Impersonate-Group":        {"e2e-team-a"},
				"Impersonate-Uid":          {"e2e-uid-1"},
				"Impersonate-Extra-Scopes": {"scope-a"},
			},
		},
		{
			// Past the hub, a client certificate that is not the
			// front-proxy's leaves X-Remote-* unread: the proxy itself
			// must drop them.
			name: "hub admin straight to clusters-apiserver", base: env.ServerURL, tls: serverTLS(t), cluster: recorderCluster,
			send: clientOnlyHeaders,
			// system:masters is dropped (--proxy-drop-groups' default).
			want: http.Header{
				"Impersonate-User":  {"admin"},
				"Impersonate-Group": nil,
			},
		},
		{
			name: "source identity", base: env.HubURL, tls: hubTLS(t, userKubeconfig), cluster: recorderSourceCluster,
			send: clientOnlyHeaders,
			want: http.Header{
				"Impersonate-User":  nil,
				"Impersonate-Group": nil,
				"Impersonate-Uid":   nil,
			},
		},
	}
	for _, tc := range tests {
		for _, mode := range []string{"plain", "upgrade"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				path := "/headers/" + strings.ReplaceAll(tc.name, " ", "-") + "/" + mode
				url := tc.base + harness.ProxyPath(tc.cluster, path)
				if mode == "plain" {
					if resp := send(t, tc.tls, http.MethodGet, url, tc.send, ""); resp.code != http.StatusOK {
						t.Fatalf("GET: %d %s", resp.code, resp.body)
					}
				} else {
					resp, _, _ := dialUpgrade(t, tc.tls, url, merge(tc.send, upgrades()[0].header))
					if resp.StatusCode != http.StatusSwitchingProtocols {
						t.Fatalf("upgrade: %s", resp.Status)
					}
				}
				got := rec.request(t, path).header
				want := merge(http.Header{"Authorization": {"Bearer " + recorderToken}}, tc.want)
				for k := range clientOnlyHeaders {
					if _, ok := want[k]; !ok {
						want[k] = nil
					}
				}
				for k, w := range want {
					g := got.Values(k)
					sort.Strings(g)
					if diff := cmp.Diff(w, g); diff != "" {
						t.Errorf("the member got %s (-want +got):\n%s", k, diff)
					}
				}
			})
		}
	}

	// A client's own Impersonate-* headers are the hub's to honour or
	// refuse, never the proxy's to forward.
	t.Run("user impersonating without the right", func(t *testing.T) {
		resp := send(t, hubTLS(t, userKubeconfig), http.MethodGet, env.HubURL+harness.ProxyPath(recorderCluster, "/headers/claim"), impersonating, "")
		if resp.code != http.StatusForbidden || len(rec.requests("/headers/claim")) != 0 {
			t.Errorf("got %d %s, and the recorder got %d requests; want 403 from the hub and none", resp.code, resp.body, len(rec.requests("/headers/claim")))
		}
	})
}

// merge returns the headers of a, then those of b, in a new Header.
func merge(a, b http.Header) http.Header {
	out := a.Clone()
	for k, vs := range b {
		out[k] = append(out[k], vs...)
	}
	return out
}

// TestProxyForwardsMethodsAndStatus sends each method through the hub to
// the recorder and checks the path, query and body it got, and the status,
// headers and body that came back.
func TestProxyForwardsMethodsAndStatus(t *testing.T) {
	rec := startRecorder(t)
	admin := hubTLS(t, env.HubKubeconfig)
	tests := []struct {
		method   string
		path     string
		body     string
		wantCode int
	}{
		{http.MethodGet, "/methods/get", "", http.StatusOK},
		{http.MethodPost, "/status/201", `{"post":1}`, http.StatusCreated},
		{http.MethodPut, "/status/202", `{"put":1}`, http.StatusAccepted},
		{http.MethodPatch, "/status/409", `{"patch":1}`, http.StatusConflict},
		{http.MethodDelete, "/status/418", "", http.StatusTeapot},
		{http.MethodHead, "/methods/head", "", http.StatusOK},
		{http.MethodOptions, "/status/204", "", http.StatusNoContent},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			// The hub passes the query on re-encoded, keys sorted.
			resp := send(t, admin, tc.method, env.HubURL+harness.ProxyPath(recorderCluster, tc.path)+"?b=2&a=x%2Fy", http.Header{"Content-Type": {"application/json"}}, tc.body)
			if resp.code != tc.wantCode || resp.header.Get("X-Recorder") != "seen" {
				t.Fatalf("%s: %d with X-Recorder=%q, %s; want %d from the recorder", tc.method, resp.code, resp.header.Get("X-Recorder"), resp.body, tc.wantCode)
			}
			wantBody := tc.body
			if tc.method == http.MethodHead || tc.wantCode == http.StatusNoContent {
				wantBody = ""
			}
			if string(resp.body) != wantBody {
				t.Errorf("body = %q, want the echo %q", resp.body, wantBody)
			}
			var got []string
			for _, r := range rec.requests(tc.path) {
				got = append(got, r.method+" "+r.path+"?"+r.query+" "+r.body)
			}
			if diff := cmp.Diff([]string{tc.method + " " + tc.path + "?a=x%2Fy&b=2 " + tc.body}, got); diff != "" {
				t.Errorf("the member got (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProxyRedirectsAreNotFollowed checks that a member's redirect is
// neither followed nor handed to the client (which could then carry its own
// credentials, or the request, out of the proxy): it becomes 502 Bad
// Gateway, straight from clusters-apiserver and through the hub (whose
// --aggregator-reject-forwarding-redirect does the same, on by default).
func TestProxyRedirectsAreNotFollowed(t *testing.T) {
	rec := startRecorder(t)
	tests := []struct {
		name     string
		base     string
		tls      *tls.Config
		wantCode int
	}{
		{"through the hub", env.HubURL, hubTLS(t, env.HubKubeconfig), http.StatusBadGateway},
		{"straight to clusters-apiserver", env.ServerURL, serverTLS(t), http.StatusBadGateway},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, tc.tls, http.MethodGet, tc.base+harness.ProxyPath(recorderCluster, "/redirect"), nil, "")
			if resp.code != tc.wantCode {
				t.Errorf("got %d %s; want %d", resp.code, resp.body, tc.wantCode)
			}
			if loc := resp.header.Get("Location"); tc.wantCode == http.StatusFound && !strings.HasSuffix(loc, "/redirected") {
				t.Errorf("Location = %q, want the member's redirect to /redirected", loc)
			}
			if got := rec.requests("/redirected"); len(got) != 0 {
				t.Errorf("the redirect was followed: %d requests for /redirected", len(got))
			}
		})
	}
}
