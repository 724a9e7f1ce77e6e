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
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// caller is one identity of the authorization matrix.
type caller struct {
	name string
	// tls authenticates (or not) through the hub and straight to the port.
	hub, direct *tls.Config
	// bearer, when set, is sent as Authorization.
	bearer string
	// user is the name the member must see impersonated; empty when the
	// caller may not reach the recorder at all.
	user string
	// verbs the caller holds on clusters/proxy of recorderCluster.
	verbs []string
}

// allows tells whether c holds verb, or "*".
func (c caller) allows(verb string) bool {
	for _, v := range c.verbs {
		if v == verb || v == "*" {
			return true
		}
	}
	return false
}

// hubServiceAccount creates a ServiceAccount on the hub bound to the
// shipped ClusterRole role and returns a token for it and its user name.
func hubServiceAccount(t *testing.T, ns, name, role string) (token, username string) {
	t.Helper()
	ctx := t.Context()
	kube := env.HubKube(t)
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	shipped, err := kube.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	username = "system:serviceaccount:" + ns + ":" + name
	waitGranted(t, kube, "", username, shipped.Rules...)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token, username
}

// anonymousTLS is cfg without a client certificate.
func anonymousTLS(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	cfg.Certificates, cfg.GetClientCertificate = nil, nil
	return cfg
}

// TestProxyAuthorizationMatrix sends every method, both upgrade forms and
// a WebSocket watch as a hub ServiceAccount (delegated TokenReview) bound
// to the shipped proxy ClusterRole, ordinary certificate users bound to the
// shipped viewer ClusterRole and to the README's example role narrowed
// with resourceNames, a get-only user and an anonymous client, through
// the hub and straight to the server's port. Each cell asserts the exact
// status and, where it is allowed, who the member saw.
func TestProxyAuthorizationMatrix(t *testing.T) {
	rec := startRecorder(t)
	saToken, saUser := hubServiceAccount(t, "e2e-authz", "proxy-user", "clusters-apiserver:proxy")
	viewer := mustUser(t, "e2e-authz-viewer")
	bindClusterRole(t, "e2e-authz-viewer", "e2e-authz-viewer", rbacv1.PolicyRule{
		APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters"}, Verbs: []string{"get", "list", "watch"}})
	// The README's reach-prod role, for the recorder.
	reach := mustUser(t, "e2e-authz-reach")
	bindClusterRole(t, "e2e-authz-reach", "e2e-authz-reach", proxyRule([]string{"get", "create", "update", "patch", "delete"}, recorderCluster))
	getOnly := mustUser(t, "e2e-authz-get")
	bindClusterRole(t, "e2e-authz-get", "e2e-authz-get", proxyRule([]string{"get"}, recorderCluster))

	admin := hubTLS(t, env.HubKubeconfig)
	callers := []caller{
		{name: "ServiceAccount token, shipped proxy role", hub: anonymousTLS(admin), direct: anonymousTLS(serverTLS(t)), bearer: saToken, user: saUser,
			verbs: []string{"get", "create", "update", "patch", "delete"}},
		{name: "certificate user, shipped viewer role", hub: hubTLS(t, viewer), direct: serverTLSAs(t, viewer)},
		{name: "certificate user, README role with resourceNames", hub: hubTLS(t, reach), direct: serverTLSAs(t, reach), user: "e2e-authz-reach",
			verbs: []string{"get", "create", "update", "patch", "delete"}},
		{name: "certificate user, get only", hub: hubTLS(t, getOnly), direct: serverTLSAs(t, getOnly), user: "e2e-authz-get", verbs: []string{"get"}},
		{name: "anonymous", hub: anonymousTLS(admin), direct: anonymousTLS(serverTLS(t))},
	}
	methods := []struct{ method, verb string }{
		{http.MethodGet, "get"}, {http.MethodHead, "get"}, {http.MethodPost, "create"}, {http.MethodPut, "update"},
		{http.MethodPatch, "patch"}, {http.MethodDelete, "delete"},
	}
	n := 0
	for _, c := range callers {
		for _, route := range []struct {
			name string
			base string
			tls  *tls.Config
		}{{"hub", env.HubURL, c.hub}, {"direct", env.ServerURL, c.direct}} {
			header := http.Header{}
			if c.bearer != "" {
				header.Set("Authorization", "Bearer "+c.bearer)
			}
			// denied is what a refused request gets: 401 for the anonymous
			// client straight to the port (no anonymous access there), 403
			// for everyone else.
			check := func(t *testing.T, path string, code int, body []byte, allowed bool, wantCode int) {
				t.Helper()
				got := rec.requests(path)
				if !allowed {
					if code != http.StatusForbidden && code != http.StatusUnauthorized {
						t.Errorf("got %d %s; want 403 (or 401 for no credentials)", code, body)
					}
					if len(got) != 0 {
						t.Errorf("a refused request reached the member")
					}
					return
				}
				if code != wantCode || len(got) != 1 {
					t.Fatalf("got %d %s, and the member %d requests; want %d and one", code, body, len(got), wantCode)
				}
				if u := got[0].header.Get("Impersonate-User"); u != c.user {
					t.Errorf("the member saw Impersonate-User %q, want %q", u, c.user)
				}
			}
			for _, m := range methods {
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, route.name, m.method), func(t *testing.T) {
					n++
					path := fmt.Sprintf("/authz/%d", n)
					resp := send(t, route.tls, m.method, route.base+harness.ProxyPath(recorderCluster, path), header, "")
					check(t, path, resp.code, resp.body, c.allows(m.verb), http.StatusOK)
				})
			}
			// OPTIONS is get straight to the port, "*" through the hub.
			t.Run(fmt.Sprintf("%s/%s/OPTIONS", c.name, route.name), func(t *testing.T) {
				n++
				path := fmt.Sprintf("/authz/%d", n)
				resp := send(t, route.tls, http.MethodOptions, route.base+harness.ProxyPath(recorderCluster, path), header, "")
				allowed := c.allows("get")
				if route.name == "hub" {
					allowed = c.allows("*")
				}
				check(t, path, resp.code, resp.body, allowed, http.StatusOK)
			})
			for _, up := range []struct {
				name, method, query, verb string
				header                    http.Header
			}{
				{"WebSocket exec", http.MethodGet, "?command=id", "create", upgrades()[1].header},
				{"SPDY exec", http.MethodPost, "?command=id", "create", upgrades()[0].header},
				{"WebSocket watch", http.MethodGet, "?watch=1", "get", upgrades()[1].header},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", c.name, route.name, up.name), func(t *testing.T) {
					n++
					path := fmt.Sprintf("/api/v1/namespaces/authz%d/pods", n)
					if up.verb == "create" {
						path += "/p/exec"
					}
					h := up.header.Clone()
					for k, vs := range header {
						h[k] = vs
					}
					code, body := rawUpgrade(t, route.tls, up.method, route.base+harness.ProxyPath(recorderCluster, path)+up.query, h)
					// The hub (or the server's own filter) checks the verb of the
					// method; the proxy adds create for what is not a watch.
					methodVerb := map[string]string{http.MethodGet: "get", http.MethodPost: "create"}[up.method]
					check(t, path, code, body, c.allows(methodVerb) && c.allows(up.verb), http.StatusSwitchingProtocols)
				})
			}
		}
	}
	// resourceNames: the README role reaches the recorder, not another
	// cluster.
	resp := send(t, hubTLS(t, reach), http.MethodGet, env.HubURL+harness.ProxyPath(recorderSourceCluster, "/authz/other"), nil, "")
	if resp.code != http.StatusForbidden || len(rec.requests("/authz/other")) != 0 {
		t.Errorf("the resourceNames role on another cluster: %d %s; want 403", resp.code, resp.body)
	}
}

// rawUpgrade sends one upgrade request with its own HTTP/1.1 connection
// and returns the status and the start of the body.
func rawUpgrade(t *testing.T, cfg *tls.Config, method, rawURL string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", req.URL.Host, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second)) // bounds a hang
	req.Header = header
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, body
}

// TestKubectlWatchOneClusterWithResourceNames runs kubectl get cluster
// NAME -w as a user whose role names only that cluster: the hub authorizes
// the watch by the name in its field selector.
func TestKubectlWatchOneClusterWithResourceNames(t *testing.T) {
	kc := mustUser(t, "e2e-watch-one")
	rule := readClusters
	rule.ResourceNames = []string{"member-1"}
	bindClusterRole(t, "e2e-watch-one", "e2e-watch-one", rule)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := env.KubectlCmd(ctx, kc, "get", "cluster", "member-1", "-w", "-o", "name")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { cancel(); <-exited }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "cluster.clusters.headlamp.dev/member-1" {
		t.Fatalf("kubectl get cluster member-1 -w printed %q (%v): %s", line, err, stderr.String())
	}
	// The watch that follows the first get must be allowed too.
	select {
	case err := <-exited:
		t.Fatalf("kubectl -w exited: %v: %s", err, stderr.String())
	case <-time.After(3 * time.Second):
	}
}
