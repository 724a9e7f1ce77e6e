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
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

const (
	// frontPrefix is where the path-prefixing front serves member-1.
	frontPrefix = "/prefix/member-1"
	// frontToken is the credential the front wants from the proxy.
	frontToken = "front-source-token"
	// prefixedCluster is member-1 reached through the front.
	prefixedCluster = "member-1-prefixed"
)

// front is a path-prefixing reverse proxy on 127.0.0.1 in front of
// member-1, as cluster managers that front many clusters are: it serves
// member-1 under frontPrefix to clients that present frontToken, and
// reaches member-1 with member-1's admin certificate, passing on every
// other header (impersonation included) and upgrades.
type front struct {
	srv *httptest.Server
	mu  sync.Mutex
	bad []string // requests outside the prefix or without the token
}

// startFront serves a front until the test ends and registers it as
// prefixedCluster.
func startFront(t *testing.T) *front {
	t.Helper()
	cfg := harness.RESTConfig(t, env.Members[0].Kubeconfig)
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.URL.Path = strings.TrimPrefix(r.In.URL.Path, frontPrefix)
			r.Out.URL.RawPath = ""
			r.Out.Header.Del("Authorization")
		},
		// HTTP/1.1 to member-1, so that upgrades pass too.
		Transport:     &http.Transport{TLSClientConfig: tlsConfig},
		FlushInterval: -1,
	}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+frontToken || !strings.HasPrefix(req.URL.Path, frontPrefix+"/") {
			f.mu.Lock()
			f.bad = append(f.bad, req.Method+" "+req.URL.RequestURI())
			f.mu.Unlock()
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, req)
	}))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	server := f.srv.URL + frontPrefix
	writeSource(t, dynamicSource, map[string]sourceEntry{prefixedCluster: {
		cluster: &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca},
		user:    &clientcmdapi.AuthInfo{Token: frontToken},
	}})
	t.Cleanup(func() {
		writeSource(t, dynamicSource, nil)
		f.srv.Close()
	})
	waitClusters(t, map[string]string{prefixedCluster: server})
	return f
}

// TestProxyThroughPathPrefix reaches member-1 through a front that serves
// it under a path prefix: health checks, plain requests with kubectl, and
// every streaming case (exec, attach, cp, port-forward) keep the prefix.
func TestProxyThroughPathPrefix(t *testing.T) {
	f := startFront(t)
	harness.Eventually(t, 30*time.Second, prefixedCluster+" is Ready through the front", func() (bool, string) {
		s := readyState(t, prefixedCluster)
		return strings.HasPrefix(s, "True Healthy v1.37"), s
	})
	kc := env.ProxyKubeconfigOf(t, env.HubKubeconfig, prefixedCluster)
	if out, err := kubectlAs(kc, "get", "pod", node.Pod, "-o", "name"); err != nil || strings.TrimSpace(out) != "pod/"+node.Pod {
		t.Fatalf("kubectl get pod through the front: %v %q", err, out)
	}
	testStreaming(t, kc)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) != 0 {
		t.Errorf("the front got requests outside its prefix or without its token: %q", f.bad)
	}
}
