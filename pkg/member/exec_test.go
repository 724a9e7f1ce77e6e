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

package member

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// TestExecPluginRunsOncePerCredential proxies many requests to a member
// whose credential comes from an exec plugin and counts the plugin's runs:
// the cached transport must reuse the credential until it expires.
func TestExecPluginRunsOncePerCredential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	plugin := writePlugin(t, dir, "plugin.sh", "echo run >> "+log+`
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token","expirationTimestamp":"`+expires+`"}}'`)
	want := &atomic.Value{}
	want.Store("plugin-token")
	member, _ := tokenMember(t, want)

	transports := NewTransports(Options{Timeouts: Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: time.Second}})
	const requests = 200
	for i := range requests {
		tr, err := transports.Get("m", execAccess(member.URL, "h", plugin))
		if err != nil {
			t.Fatal(err)
		}
		if code, err := status(t, tr.RoundTripper, member.URL+"/api", nil); err != nil || code != http.StatusOK {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	if got := runs(t, log); got != 1 {
		t.Errorf("the exec plugin ran %d times for %d requests, want 1", got, requests)
	}
}

// writePlugin writes an executable shell script that runs body.
func writePlugin(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// runs counts the lines a plugin appended to file, one per run.
func runs(t *testing.T, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// execAccess is the access configuration of a member at url whose
// credential comes from command.
func execAccess(url, hash, command string, args ...string) inventory.Access {
	return inventory.Access{Hash: hash, Config: &rest.Config{
		Host:            url,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		ExecProvider: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: command, Args: args,
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		},
	}}
}

// tokenMember answers 200 to the bearer token want holds and 401 to any
// other, and records the last Authorization header it saw.
func tokenMember(t *testing.T, want *atomic.Value) (*httptest.Server, *atomic.Value) {
	t.Helper()
	seen := &atomic.Value{}
	seen.Store("")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer "+want.Load().(string) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// status sends GET / through rt and returns the status code, or the error.
func status(t *testing.T, rt http.RoundTripper, url string, header http.Header) (int, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestExecCredentialsSharedAndForgotten: the health checks' temporary
// transports and the proxy's cached one share a cluster's credential, so
// checks do not run the plugin each time; the credential replaces any
// Authorization a request carries; and once the clusters leave the
// inventory, no credential of theirs is kept.
func TestExecCredentialsSharedAndForgotten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	want := &atomic.Value{}
	want.Store("plugin-token")
	member, seen := tokenMember(t, want)
	plugin := writePlugin(t, dir, "plugin.sh", "echo run >> "+log+"\necho '"+credentialJSON("plugin-token")+"'")

	inv := inventory.New()
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	go trs.Follow(t.Context(), inv)
	const members = 20
	var list []inventory.Member
	for i := range members {
		list = append(list, inventory.Member{Name: fmt.Sprintf("m%d", i), Origin: fmt.Sprintf("o%d", i), Access: execAccess(member.URL, fmt.Sprint(i), plugin)})
	}
	inv.Replace("src", list)
	for i := range members {
		name := fmt.Sprintf("m%d", i)
		access, _ := inv.Access(name)
		for range 3 { // three health checks of a member nobody uses
			tr, err := trs.Temporary(name, access)
			if err != nil {
				t.Fatal(err)
			}
			if code, err := status(t, tr.ProbeRoundTripper, member.URL, nil); err != nil || code != http.StatusOK {
				t.Fatalf("%s: check: %d %v", name, code, err)
			}
			tr.Close()
		}
		tr, err := trs.Get(name, access)
		if err != nil {
			t.Fatal(err)
		}
		code, err := status(t, tr.RoundTripper, member.URL, http.Header{"Authorization": {"Bearer caller-token"}})
		if err != nil || code != http.StatusOK || seen.Load() != "Bearer plugin-token" {
			t.Fatalf("%s: a request carrying its own Authorization: %d %v, the member saw %q", name, code, err, seen.Load())
		}
	}
	if got := runs(t, log); got != members {
		t.Errorf("the plugin ran %d times for %d clusters checked three times and proxied to once, want %d", got, members, members)
	}

	inv.Replace("src", nil)
	kept := func() int {
		trs.credMu.Lock()
		defer trs.credMu.Unlock()
		return len(trs.creds)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return kept() == 0, nil
	})
	if err != nil {
		t.Errorf("%d credentials kept after every cluster left, want 0", kept())
	}
}

// credentialJSON is what a plugin prints to hand over token.
func credentialJSON(token string) string {
	return `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token + `"}}`
}

// TestHostilePluginsLeakNothing: whatever a plugin prints, on standard
// output or error, and whatever its arguments hold, the error a request
// gets names the problem and holds none of it.
func TestHostilePluginsLeakNothing(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-in-plugin-output"
	dir := t.TempDir()
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer member.Close()
	cases := []struct {
		name, body string
		args       []string
		mutate     func(*clientcmdapi.ExecConfig)
		want       string
	}{
		{name: "no kind", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1","status":{"token":"` + secret + `"}}'`, want: "not an ExecCredential"},
		{name: "broken JSON", body: `echo '{"kind":"ExecCredential","status":{"token":"` + secret + `"'`, want: "not a JSON object"},
		{name: "other version", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"` + secret + `"}}'`, want: "not an ExecCredential of that version"},
		{name: "wrong field type", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":["` + secret + `"]}}'`, want: "not a valid ExecCredential"},
		{name: "no status", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false,"x":"` + secret + `"}}'`, want: "didn't return a status"},
		{name: "certificate without key", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"` + secret + `"}}'`, want: "only certificate or key"},
		{name: "unparsable key pair", body: `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"` + secret + `","clientKeyData":"` + secret + `"}}'`, want: "failed parsing client key/certificate"},
		{name: "huge output", body: `i=0; while [ $i -lt 40000 ]; do printf '{"token":"%s"}' ` + secret + `; i=$((i+1)); done`, want: "not a JSON object"},
		{name: "secret on standard error", body: "echo " + secret + " >&2; exit 1", want: "failed with exit code 1"},
		{name: "secret in arguments", body: "exit 3", args: []string{"--token=" + secret}, want: "failed with exit code 3"},
		{name: "interactive", body: "exit 0", mutate: func(c *clientcmdapi.ExecConfig) { c.InteractiveMode = clientcmdapi.AlwaysExecInteractiveMode }, want: "a server has no terminal"},
		{name: "policy", body: "exit 0", mutate: func(c *clientcmdapi.ExecConfig) { c.PluginPolicy.PolicyType = clientcmdapi.PluginPolicyDenyAll }, want: "not supported"},
		{name: "version", body: "exit 0", mutate: func(c *clientcmdapi.ExecConfig) { c.APIVersion = "client.authentication.k8s.io/v1alpha1" }, want: "invalid apiVersion"},
		{name: "environment name holding =", body: "exit 0", mutate: func(c *clientcmdapi.ExecConfig) {
			c.Env = append(c.Env, clientcmdapi.ExecEnvVar{Name: "HTTPS_PROXY=http://" + secret, Value: ""})
		}, want: "environment variable name"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			access := execAccess(member.URL, fmt.Sprint(i), writePlugin(t, dir, fmt.Sprintf("p%d.sh", i), tc.body), tc.args...)
			if tc.mutate != nil {
				tc.mutate(access.Config.ExecProvider)
			}
			trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
			tr, err := trs.Get("m", access)
			if err == nil {
				_, err = status(t, tr.RoundTripper, member.URL, nil)
			}
			if err == nil {
				t.Fatalf("no error")
			}
			if reason, msg := Explain(err, "user m"); reason != clusters.ReasonCredentialError && tc.mutate == nil {
				t.Errorf("Explain(%q) = %s, want CredentialError", msg, reason)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), dir) {
				t.Errorf("error %q: want it to say %q and to hold neither the plugin's output, its arguments nor its path", err, tc.want)
			}
		})
	}
}

// TestPluginRunsAreBounded: a member that refuses every credential, a
// plugin that keeps failing and a credential that is already expired each
// run the plugin once for a hundred requests, not once a request; once
// the retry interval has passed, a refused credential is replaced.
func TestPluginRunsAreBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := &atomic.Value{}
	want.Store("accepted")
	member, _ := tokenMember(t, want)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("refused"), 0o600); err != nil {
		t.Fatal(err)
	}
	expired := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct{ name, body string }{
		{"refused", `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'$(cat ` + tokenFile + `)'"}}'`},
		{"failing", "exit 1"},
		{"expired", `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"accepted","expirationTimestamp":"` + expired + `"}}'`},
	}
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	trs.execRetry = time.Minute
	for i, tc := range cases {
		log := filepath.Join(dir, tc.name+".runs")
		tr, err := trs.Get(tc.name, execAccess(member.URL, fmt.Sprint(i), writePlugin(t, dir, tc.name+".sh", "echo run >> "+log+"\n"+tc.body)))
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			_, _ = status(t, tr.RoundTripper, member.URL, nil)
		}
		if got := runs(t, log); got != 1 {
			t.Errorf("%s: the plugin ran %d times for 100 requests, want 1", tc.name, got)
		}
	}

	// The refused token is replaced once the interval has passed.
	trs.execRetry = 100 * time.Millisecond
	log := filepath.Join(dir, "rotated.runs")
	tr, err := trs.Get("rotated", execAccess(member.URL, "rotated", writePlugin(t, dir, "rotated.sh", "echo run >> "+log+"\n"+cases[0].body)))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := status(t, tr.RoundTripper, member.URL, nil); code != http.StatusUnauthorized {
		t.Fatalf("a refused token: %d, want 401", code)
	}
	if err := os.WriteFile(tokenFile, []byte("accepted"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		code, _ := status(t, tr.RoundTripper, member.URL, nil)
		return code == http.StatusOK, nil
	})
	if err != nil {
		t.Errorf("a refused token was not replaced by the plugin's new one")
	}
	if got := runs(t, log); got > 3 {
		t.Errorf("the plugin ran %d times to replace one refused token, want at most 3", got)
	}
}

// TestClientCertificateRotationClosesConnections: when the plugin returns
// another client certificate, connections made with the old one are
// closed, so the next request presents the new one (a member checks the
// certificate only at the handshake).
func TestClientCertificateRotationClosesConnections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var wantCN atomic.Value
	wantCN.Store("first")
	var handshakes atomic.Int32
	member := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != wantCN.Load().(string) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	member.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	member.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			handshakes.Add(1)
		}
	}
	member.StartTLS()
	defer member.Close()

	credFile := filepath.Join(dir, "cred.json")
	writeCert := func(cn string) {
		certPEM, keyPEM := clientCertificate(t, cn)
		out, _ := json.Marshal(map[string]any{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
			"status": map[string]string{"clientCertificateData": string(certPEM), "clientKeyData": string(keyPEM)}})
		if err := os.WriteFile(credFile, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCert("first")
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	trs.execRetry = 0
	tr, err := trs.Get("m", execAccess(member.URL, "h", writePlugin(t, dir, "cert.sh", "cat "+credFile)))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := status(t, tr.RoundTripper, member.URL, nil); code != http.StatusOK {
		t.Fatalf("with the first certificate: %d %v", code, err)
	}
	writeCert("second")
	wantCN.Store("second")
	if code, _ := status(t, tr.RoundTripper, member.URL, nil); code != http.StatusUnauthorized {
		t.Fatalf("the old certificate on the old connection: %d, want 401", code)
	}
	if code, err := status(t, tr.RoundTripper, member.URL, nil); code != http.StatusOK {
		t.Errorf("after the plugin returned the second certificate: %d %v, want 200 on a new connection", code, err)
	}
	if got := handshakes.Load(); got != 2 {
		t.Errorf("%d connections, want 2: one a certificate", got)
	}
}

// clientCertificate returns a self-signed client certificate for cn and
// its key, in PEM.
func clientCertificate(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// runPlugin runs body as the plugin of a fresh credential with the given
// time limit, and returns the credential, how long it took and the error.
func runPlugin(t *testing.T, body string, limit time.Duration) (*execCredential, time.Duration, error) {
	t.Helper()
	access := execAccess("https://127.0.0.1:1", "", writePlugin(t, t.TempDir(), "p.sh", body))
	c, err := newExecCredentials(access.Config, "m", "", limit, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cred, err := c.get(t.Context())
	return cred, time.Since(start), err
}

// gone waits until no process has the PID in file, or fails the test.
func gone(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stat := "/proc/" + strings.TrimSpace(string(data)) + "/stat"
	deadline := time.Now().Add(10 * time.Second) // bounds a wait, not a goal
	for {
		b, err := os.ReadFile(stat)
		// Gone, or a zombie waiting for a parent that reaps it.
		if err != nil || strings.Contains(string(b), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s is still running: %s", strings.TrimSpace(string(data)), b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPluginProcesses: a plugin runs with the member's name and its
// ExecCredential input in its environment; a hanging plugin is killed,
// with what it started, at its time limit; a child a plugin leaves behind
// is killed after it; a detached child holding the plugin's output does
// not hold the run.
func TestPluginProcesses(t *testing.T) {
	t.Parallel()
	t.Run("environment", func(t *testing.T) {
		t.Parallel()
		cred, _, err := runPlugin(t, `[ "$CLUSTERS_APISERVER_MEMBER" = m ] || exit 9
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) exit 8 ;; esac
echo '`+credentialJSON("t")+`'`, time.Minute)
		if err != nil || cred.token != "t" {
			t.Errorf("got %v, %v; want the token", cred, err)
		}
	})
	t.Run("hanging", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, took, err := runPlugin(t, "sleep 600 & echo $! > "+dir+"/child\nexec sleep 600", 300*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "did not finish within its time limit (300ms)") {
			t.Errorf("a hanging plugin: %v", err)
		}
		if took > 10*time.Second { // bounds a hang, not a goal
			t.Errorf("a hanging plugin held the run for %s", took)
		}
		gone(t, dir+"/child")
	})
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		access := execAccess("https://127.0.0.1:1", "", "/does/not/exist")
		c, err := newExecCredentials(access.Config, "m", "", time.Minute, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.get(t.Context()); err == nil || !strings.Contains(err.Error(), "was not found") {
			t.Errorf("a missing plugin: %v", err)
		}
	})
	t.Run("leaves a child", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cred, _, err := runPlugin(t, "sleep 600 & echo $! > "+dir+"/child\necho '"+credentialJSON("t")+"'", time.Minute)
		if err != nil || cred.token != "t" {
			t.Errorf("got %v, %v; want the token", cred, err)
		}
		gone(t, dir+"/child")
	})
	t.Run("detached child", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cred, took, err := runPlugin(t, "echo '"+credentialJSON("t")+"'\nsetsid sh -c 'echo $$ > "+dir+"/child; exec sleep 600' &", time.Minute)
		if err != nil || cred.token != "t" {
			t.Errorf("got %v, %v; want the token", cred, err)
		}
		if took > 10*time.Second { // bounds a hang, not a goal
			t.Errorf("a detached child held the run for %s", took)
		}
		// End the child this test started, by its PID.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if data, err := os.ReadFile(dir + "/child"); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestRefusalsThatAreNotTheMembers: a 401 that a member's pod, service or
// node proxy passes on is the backend's, so it does not make the plugin
// run again; the member's own 401 does.
func TestRefusalsThatAreNotTheMembers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer member.Close()
	trs := NewTransports(Options{Timeouts: DefaultTimeouts()})
	trs.execRetry = 0
	tr, err := trs.Get("m", execAccess(member.URL, "h", writePlugin(t, dir, "p.sh", "echo run >> "+log+"\necho '"+credentialJSON("t")+"'")))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/namespaces/n/pods/p/proxy/", "/api/v1/namespaces/n/services/https:s:443/proxy/x", "/api/v1/nodes/n/proxy/metrics"} {
		_, _ = status(t, tr.RoundTripper, member.URL+path, nil)
	}
	if got := runs(t, log); got != 1 {
		t.Errorf("401s passed on by the member's proxies ran the plugin %d times, want 1 (the first credential)", got)
	}
	_, _ = status(t, tr.RoundTripper, member.URL+"/api/v1/namespaces", nil)
	if got := runs(t, log); got != 2 {
		t.Errorf("the member's own 401: the plugin ran %d times, want 2", got)
	}

	// A member reached through another's service proxy: its base path is
	// not taken for a proxy of its own.
	base := "/api/v1/namespaces/n/services/s/proxy"
	tr, err = trs.Get("behind", execAccess(member.URL+base, "h2", writePlugin(t, dir, "p2.sh", "echo run >> "+log+"2\necho '"+credentialJSON("t")+"'")))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = status(t, tr.RoundTripper, member.URL+base+"/api/v1/namespaces", nil)
	if got := runs(t, log+"2"); got != 2 {
		t.Errorf("the own 401 of a member behind a service proxy: the plugin ran %d times, want 2", got)
	}
}

// TestWaitingForAPluginEndsWithTheRequest: while a cluster's plugin hangs,
// another request to it waits no longer than its own context allows.
func TestWaitingForAPluginEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	trs := NewTransports(Options{Timeouts: Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: time.Second, CredentialPlugin: 20 * time.Second}})
	tr, err := trs.Get("m", execAccess("https://127.0.0.1:1", "h", writePlugin(t, dir, "hang.sh", "echo $$ > "+dir+"/pid.tmp; mv "+dir+"/pid.tmp "+dir+"/pid\nexec sleep 600")))
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := status(t, tr.RoundTripper, "https://127.0.0.1:1/", nil)
		first <- err
	}()
	eventually(t, func() bool { _, err := os.Stat(dir + "/pid"); return err == nil })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1:1/", http.NoBody)
	start := time.Now()
	_, err = tr.RoundTripper.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "gave up waiting") || time.Since(start) > 10*time.Second {
		t.Errorf("a request behind a hanging plugin: %v after %s; want it to give up with its context", err, time.Since(start))
	}
	// End the hanging plugin this test started, by its PID.
	data, _ := os.ReadFile(dir + "/pid")
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if err := <-first; err == nil {
		t.Errorf("the request whose plugin was killed succeeded")
	}
}

// eventually polls cond for up to 10 seconds, or fails the test.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatal("timed out")
	}
}

// TestConcurrentBuildsOfOneExecConfig: the proxy and the prober build
// transports of the same access configuration at once, its exec config
// carrying cluster information (as a ClusterProfile's provider's does).
// rest.CopyConfig wrote into the shared exec config; under -race this
// halted the server in CI.
func TestConcurrentBuildsOfOneExecConfig(t *testing.T) {
	access := execAccess("https://127.0.0.1:1", "h", "true")
	access.Config.ExecProvider.Config = &runtime.Unknown{Raw: []byte(`{"audience":"member"}`)}
	transports := NewTransports(Options{Timeouts: DefaultTimeouts()})
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			if tr, err := transports.Temporary("c", access); err == nil {
				tr.Close()
			}
		}()
	}
	for range 8 {
		<-done
	}
	if access.Config.ExecProvider == nil || access.Config.ExecProvider.Config == nil {
		t.Error("building a transport changed the shared access configuration")
	}
}
