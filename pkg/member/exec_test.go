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
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// TestExecPluginRunsOncePerCredential proxies many requests to a member
// whose credential comes from an exec plugin and counts the plugin's runs:
// the cached transport must reuse the credential until it expires.
func TestExecPluginRunsOncePerCredential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	plugin := filepath.Join(dir, "plugin.sh")
	script := fmt.Sprintf(`#!/bin/sh
echo run >> %s
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token","expirationTimestamp":"%s"}}'
`, count, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	member := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer plugin-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer member.Close()

	access := inventory.Access{Hash: "h", Config: &rest.Config{
		Host:            member.URL,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		ExecProvider: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: plugin,
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		},
	}}
	transports := NewTransports(Options{Timeouts: Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: time.Second}})
	const requests = 200
	for i := 0; i < requests; i++ {
		tr, err := transports.Get("m", access)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, member.URL+"/api", http.NoBody)
		resp, err := tr.RoundTripper.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	data, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	if runs := strings.Count(string(data), "run"); runs != 1 {
		t.Errorf("the exec plugin ran %d times for %d requests, want 1", runs, requests)
	}
}
