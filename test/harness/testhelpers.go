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

package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned"
)

// The helpers of tests against an Env: each one defined here once, for
// every end-to-end package.

// ProxyPath is the API path that proxies to path on cluster.
func ProxyPath(cluster, path string) string {
	return "/apis/clusters.headlamp.dev/v1alpha1/clusters/" + cluster + "/proxy" + path
}

// Eventually polls cond every 200ms until it holds, failing t when timeout
// passes first with what and the last state cond gave.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last state: %s", what, timeout, last)
	}
}

// HubKubectl runs kubectl against the hub as its admin and returns its
// output, failing t when it fails.
func (e *Env) HubKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, err := e.Kubectl(t.Context(), e.HubKubeconfig, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// HubConfig is the hub admin's client configuration, without client-side
// rate limits.
func (e *Env) HubConfig(t testing.TB) *rest.Config {
	t.Helper()
	cfg, err := e.HubRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS = -1
	return cfg
}

// HubKube is a client of the hub as its admin.
func (e *Env) HubKube(t testing.TB) kubernetes.Interface {
	t.Helper()
	return kubernetes.NewForConfigOrDie(e.HubConfig(t))
}

// HubClusters is a client of the hub's clusters.headlamp.dev API as the
// hub's admin.
func (e *Env) HubClusters(t testing.TB) versioned.Interface {
	t.Helper()
	return versioned.NewForConfigOrDie(e.HubConfig(t))
}

// MemberKube is an admin client of Members[i], straight to it.
func (e *Env) MemberKube(t testing.TB, i int) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Members[i].Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS = -1
	return kubernetes.NewForConfigOrDie(cfg)
}

// ProxyKubeconfig writes a copy of the hub admin's kubeconfig whose server
// is the hub's proxy to cluster: kubectl with it works on the member.
func (e *Env) ProxyKubeconfig(t testing.TB, cluster string) string {
	t.Helper()
	return e.ProxyKubeconfigOf(t, e.HubKubeconfig, cluster)
}

// ProxyKubeconfigOf rewrites kubeconfig's servers to the hub's proxy to
// cluster.
func (e *Env) ProxyKubeconfigOf(t testing.TB, kubeconfig, cluster string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		c.Server = strings.TrimSuffix(c.Server, "/") + ProxyPath(cluster, "")
	}
	path := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// FrontProxyTLS is the TLS configuration of a client of
// clusters-apiserver's own port that presents the hub's front-proxy client
// certificate, as the hub's aggregation layer does, and the headers that
// make a request the hub admin's.
func (e *Env) FrontProxyTLS() (*tls.Config, http.Header, error) {
	pki := filepath.Join(e.WorkDir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "front-proxy-client.crt"), filepath.Join(pki, "front-proxy-client.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("loading the hub's front-proxy client certificate: %w", err)
	}
	ca, err := os.ReadFile(e.ServerCAFile)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, nil, fmt.Errorf("no certificate in %s", e.ServerCAFile)
	}
	headers := http.Header{
		"X-Remote-User":  {"admin"},
		"X-Remote-Group": {"system:masters", "system:authenticated"},
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, headers, nil
}

// RESTConfig is RESTConfigFor for a test: it fails t on an error.
func RESTConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := RESTConfigFor(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
