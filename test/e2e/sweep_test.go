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
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestNoCredentialLeaks plants credentials in kubeconfig contexts (a
// plugin's token, its command, arguments, environment and standard error,
// a static token,
// a client key, URL passwords in a URL that parses and one that does not),
// runs the server at -v=10 until every context has been health-checked
// and requested through the proxy, plainly and with an upgrade, then
// checks every response, Status body, Cluster object, metric and log line
// for each of them.
func TestNoCredentialLeaks(t *testing.T) {
	member := harness.RESTConfig(t, env.Members[0].Kubeconfig)
	host := strings.TrimPrefix(member.Host, "https://")
	dir := t.TempDir()
	pluginPath := plugin(t, dir, "sweep-secret-plugin-name.sh", "echo sweep-plugin-stderr-value >&2\necho '"+credentialJSON("sweep-plugin-token-value")+"'")
	withPlugin := pluginEntry(t, pluginPath)
	withPlugin.user.Exec.Args = []string{"--sweep-arg=sweep-plugin-arg-value"}
	withPlugin.user.Exec.Env = []clientcmdapi.ExecEnvVar{{Name: "SWEEP_ENV", Value: "sweep-plugin-env-value"}}
	cluster := func(server string) *clientcmdapi.Cluster {
		return &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: member.CAData}
	}
	entries := map[string]sourceEntry{
		"e2e-sweep-plugin":   withPlugin,
		"e2e-sweep-token":    {cluster: cluster(member.Host), user: &clientcmdapi.AuthInfo{Token: "sweep-static-token-value"}},
		"e2e-sweep-key":      {cluster: cluster(member.Host), user: &clientcmdapi.AuthInfo{ClientCertificateData: member.CertData, ClientKeyData: member.KeyData}},
		"e2e-sweep-userinfo": {cluster: cluster("https://admin:sweep-url-password@" + host), user: &clientcmdapi.AuthInfo{Token: "sweep-static-token-value"}},
		"e2e-sweep-bad-url":  {cluster: cluster("https://admin:sweep%zzbad-url-password@" + host), user: &clientcmdapi.AuthInfo{Token: "sweep-static-token-value"}},
	}
	// Lines of the client key, besides its PEM armour.
	secrets := []string{"sweep-plugin-token-value", "sweep-secret-plugin-name", "sweep-plugin-stderr-value", "sweep-plugin-arg-value", "sweep-plugin-env-value",
		"sweep-static-token-value", "sweep-url-password", "bad-url-password", "PRIVATE KEY", recorderToken}
	for _, line := range strings.Split(string(member.KeyData), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	secrets = append(secrets, base64.StdEncoding.EncodeToString(member.KeyData)[:40])

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	logStart := fileSize(t, env.ServerLog())
	if err := env.RestartServerWith(ctx, "-v=10"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RestartServerWith(context.Background()); err != nil {
			t.Errorf("restarting with the default flags: %v", err)
		}
	})
	rec := startRecorder(t) // its token is planted too
	entries[recorderCluster] = rec.entry()
	writeSource(t, dynamicSource, entries)
	clearDynamic(t)

	var texts []string
	for name := range entries {
		harness.Eventually(t, 60*time.Second, name+" has been health-checked", func() (bool, string) {
			s := readyState(t, name)
			return !strings.HasPrefix(s, "Unknown") && !strings.Contains(s, "not found"), s
		})
	}
	admin := hubTLS(t, env.HubKubeconfig)
	for name := range entries {
		for _, r := range []route{{name: "hub", base: env.HubURL, tls: admin}, {name: "direct", base: env.ServerURL, tls: serverTLS(t)}} {
			resp := send(t, r.tls, http.MethodGet, r.base+harness.ProxyPath(name, "/version"), nil, "")
			texts = append(texts, string(resp.body), headerText(resp.header))
			up, _, _ := dialUpgrade(t, r.tls, r.base+harness.ProxyPath(name, "/api/v1/namespaces/default/pods/p/exec?command=id"), upgrades()[1].header)
			body, _ := io.ReadAll(io.LimitReader(up.Body, 64<<10))
			texts = append(texts, string(body), headerText(up.Header))
		}
	}
	texts = append(texts, env.HubKubectl(t, "get", "clusters", "-o", "yaml"))
	metrics := send(t, serverTLS(t), http.MethodGet, env.ServerURL+"/metrics", nil, "")
	if metrics.code != http.StatusOK {
		t.Fatalf("/metrics: %d", metrics.code)
	}
	texts = append(texts, string(metrics.body))
	log, err := os.ReadFile(env.ServerLog())
	if err != nil {
		t.Fatal(err)
	}
	serverLog := string(log[logStart:])
	if !strings.Contains(serverLog, "e2e-sweep-plugin") {
		t.Fatalf("the -v=10 log does not mention the planted clusters: the sweep would prove nothing")
	}
	texts = append(texts, serverLog)

	for _, s := range secrets {
		for _, text := range texts {
			if i := strings.Index(text, s); i >= 0 {
				start := max(0, i-120)
				t.Errorf("%q leaked: ...%s...", s, text[start:min(len(text), i+len(s)+60)])
				break
			}
		}
	}
}

// headerText is a header as text.
func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// fileSize is the size of the file at path, 0 when it does not exist.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
