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
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// proxyRule grants verbs on the proxy of the named clusters.
func proxyRule(verbs []string, clusters ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters/proxy"}, ResourceNames: clusters, Verbs: verbs}
}

// allProxyVerbs are the verbs the proxy checks, for every HTTP method and
// for upgrades.
var allProxyVerbs = []string{"get", "create", "update", "patch", "delete"}

// hubTLS is the TLS configuration that authenticates to the hub as the
// user of kubeconfig.
func hubTLS(t *testing.T, kubeconfig string) *tls.Config {
	t.Helper()
	cfg, err := rest.TLSConfigFor(harness.RESTConfig(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serverTLS authenticates to clusters-apiserver itself, past the hub, with
// the hub admin's client certificate: the server trusts the hub's client
// CA, and the hub's RBAC allows its admin everything.
func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	return serverTLSAs(t, env.HubKubeconfig)
}

// serverTLSAs authenticates to clusters-apiserver itself, past the hub,
// with the client certificate of a hub kubeconfig.
func serverTLSAs(t *testing.T, kubeconfig string) *tls.Config {
	t.Helper()
	cfg := hubTLS(t, kubeconfig).Clone()
	ca, err := os.ReadFile(env.ServerCAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AppendCertsFromPEM(ca)
	return cfg
}

// response is what a request got back.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// status decodes the body as a Status, or returns an empty one.
func (r response) status() metav1.Status {
	var s metav1.Status
	_ = json.Unmarshal(r.body, &s)
	return s
}

// send makes one HTTPS request with its own connection.
func send(t *testing.T, cfg *tls.Config, method, url string, header http.Header, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: data}
}

// waitClusters waits until the hub serves each named Cluster with the
// given server: a Cluster of the same name left by an earlier test may
// still be there with another.
func waitClusters(t *testing.T, servers map[string]string) {
	t.Helper()
	clusters := env.HubClusters(t).ClustersV1alpha1().Clusters()
	for name, server := range servers {
		harness.Eventually(t, 20*time.Second, "the hub serves cluster "+name+" at "+server, func() (bool, string) {
			c, err := clusters.Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return c.Spec.Server == server, c.Spec.Server
		})
	}
}

// noCredentials fails t if text carries anything that looks like key or
// certificate material, or the recorder's token.
func noCredentials(t *testing.T, what, text string) {
	t.Helper()
	for _, secret := range []string{"BEGIN", "PRIVATE KEY", recorderToken} {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains %q: %s", what, secret, text)
		}
	}
}

// closedPortURL returns an https URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

// TestProxyErrors checks the answers of the proxy when it cannot reach a
// member, next to an error of the member's own that it passes through.
func TestProxyErrors(t *testing.T) {
	clearDynamic(t)
	// member-1's credentials, so member-2's certificate is not trusted.
	servers := map[string]string{"e2e-wrong-ca": env.Members[1].URL, "e2e-closed-port": closedPortURL(t)}
	writeDynamic(t, servers)
	waitClusters(t, servers)
	admin := hubTLS(t, env.HubKubeconfig)

	tests := []struct {
		name       string
		cluster    string
		path       string
		wantCode   int
		wantReason metav1.StatusReason // empty: not checked
		wantInMsg  []string
	}{
		{"unknown cluster", "e2e-no-such-cluster", "/version", http.StatusNotFound, metav1.StatusReasonNotFound, []string{"e2e-no-such-cluster"}},
		{"member's own 404", "member-1", "/api/v1/namespaces/e2e-no-such-namespace", http.StatusNotFound, metav1.StatusReasonNotFound, []string{`namespaces "e2e-no-such-namespace" not found`}},
		{"untrusted certificate", "e2e-wrong-ca", "/version", http.StatusServiceUnavailable, "", []string{`cluster "e2e-wrong-ca"`, "certificate"}},
		{"nothing listening", "e2e-closed-port", "/version", http.StatusServiceUnavailable, "", []string{`cluster "e2e-closed-port"`, "connection refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, admin, http.MethodGet, env.HubURL+harness.ProxyPath(tc.cluster, tc.path), nil, "")
			st := resp.status()
			if resp.code != tc.wantCode || st.Kind != "Status" || int(st.Code) != tc.wantCode {
				t.Fatalf("got %d %s; want a %d Status", resp.code, resp.body, tc.wantCode)
			}
			if tc.wantReason != "" && st.Reason != tc.wantReason {
				t.Errorf("reason = %q, want %q: %s", st.Reason, tc.wantReason, resp.body)
			}
			for _, w := range tc.wantInMsg {
				if !strings.Contains(st.Message, w) {
					t.Errorf("message lacks %q: %s", w, st.Message)
				}
			}
			noCredentials(t, "the answer", string(resp.body))
		})
	}
}
