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
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// pluginTimeout is the server's --credential-plugin-timeout in this
// package (see main_test.go).
const pluginTimeout = 2 * time.Second

// plugin writes an exec credential plugin script into dir. Each run
// appends its PID, and those of any children it starts, to dir/pids.
func plugin(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := "#!/bin/sh\necho $$ >> " + filepath.Join(dir, "pids") + "\n" + body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// pluginEntry is a kubeconfig context reaching member-1 with the
// credential of an exec plugin.
func pluginEntry(t *testing.T, command string) sourceEntry {
	t.Helper()
	members := harness.RESTConfig(t, env.Members[0].Kubeconfig)
	return sourceEntry{
		cluster: &clientcmdapi.Cluster{Server: members.Host, CertificateAuthorityData: members.CAData},
		user: &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: command,
			Args: []string{"--secret-arg=plugin-arg-secret"}, Env: []clientcmdapi.ExecEnvVar{{Name: "PLUGIN_SECRET", Value: "plugin-env-secret"}},
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}},
	}
}

// pluginPIDs returns the PIDs the plugins of dir wrote.
func pluginPIDs(t *testing.T, dir string) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "pids"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// running tells whether pid is a live process (not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// noneRunning waits until none of the plugins of dir runs.
func noneRunning(t *testing.T, dir, what string) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, what, func() (bool, string) {
		for _, pid := range pluginPIDs(t, dir) {
			if running(pid) {
				return false, fmt.Sprintf("pid %d still runs", pid)
			}
		}
		return true, ""
	})
}

// memberToken returns a token of a ServiceAccount of member-1, which
// authenticates there (and may read /readyz, as anyone may).
func memberToken(t *testing.T) string {
	t.Helper()
	member := env.MemberKube(t, 0)
	createNamespace(t, member, identityNS)
	if _, err := member.CoreV1().ServiceAccounts(identityNS).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "plugin-user"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tr, err := member.CoreV1().ServiceAccounts(identityNS).CreateToken(t.Context(), "plugin-user", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// credentialJSON is what a plugin prints to hand over token.
func credentialJSON(token string) string {
	return `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"` + token + `"}}`
}

// TestHangingPluginsHoldNothing gives 20 kubeconfig contexts a plugin
// that hangs, then adds a healthy context: the healthy one turns Ready
// while the hanging ones turn Ready=False CredentialError with a message
// that names the kubeconfig user, not the plugin; a request to a hanging
// cluster gets 503; every hanging plugin is killed. A plugin that prints
// its credential and leaves a child holding its output works, and the
// child does not survive it.
func TestHangingPluginsHoldNothing(t *testing.T) {
	dir := t.TempDir()
	hang := plugin(t, dir, "hang.sh", "exec sleep 600")
	token := memberToken(t)
	leaves := plugin(t, dir, "leaves-child.sh", "sleep 600 &\necho $! >> "+filepath.Join(dir, "pids")+"\necho '"+credentialJSON(token)+"'")
	entries := map[string]sourceEntry{}
	for i := range 20 {
		entries[fmt.Sprintf("e2e-hang-%02d", i)] = pluginEntry(t, hang)
	}
	writeSource(t, dynamicSource, entries)
	clearDynamic(t)
	// Let the hanging plugins occupy the health workers first.
	harness.Eventually(t, 30*time.Second, "the hanging plugins run", func() (bool, string) {
		return len(pluginPIDs(t, dir)) >= 5, fmt.Sprint(pluginPIDs(t, dir))
	})
	entries["e2e-late-healthy"] = pluginEntry(t, leaves)
	writeSource(t, dynamicSource, entries)

	harness.Eventually(t, 60*time.Second, "the late cluster with a working plugin turns Ready", func() (bool, string) {
		s := readyState(t, "e2e-late-healthy")
		return strings.HasPrefix(s, "True Healthy"), s
	})
	harness.Eventually(t, 60*time.Second, "a hanging cluster turns Ready=False CredentialError", func() (bool, string) {
		s := readyState(t, "e2e-hang-07")
		return strings.HasPrefix(s, "False CredentialError"), s
	})
	c, err := env.HubClusters(t).ClustersV1alpha1().Clusters().Get(t.Context(), "e2e-hang-07", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg := c.Status.Conditions[0].Message
	if !strings.Contains(msg, `user "e2e-hang-07"`) || !strings.Contains(msg, "time limit") {
		t.Errorf("Ready message %q; want it to name the kubeconfig user and the time limit", msg)
	}
	for _, leak := range []string{"hang.sh", dir, "plugin-arg-secret", "plugin-env-secret"} {
		if strings.Contains(msg, leak) {
			t.Errorf("Ready message %q shows %q", msg, leak)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // bounds a hang
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.HubURL+harness.ProxyPath("e2e-hang-03", "/version"), http.NoBody)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: hubTLS(t, env.HubKubeconfig)}}).Do(req)
	if err != nil {
		t.Fatalf("a request to a cluster whose plugin hangs did not end: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a request to a cluster whose plugin hangs: %d, want 503", resp.StatusCode)
	}

	writeSource(t, dynamicSource, nil)
	noneRunning(t, dir, "every plugin and plugin child is gone")
}

// TestPluginsStopWithTheServer starts a plugin that would run for ten
// minutes, under a plugin time limit as long, and stops the server: the
// plugin goes with it.
func TestPluginsStopWithTheServer(t *testing.T) {
	dir := t.TempDir()
	hang := plugin(t, dir, "hang.sh", "exec sleep 600")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := env.RestartServerWith(ctx, "--credential-plugin-timeout=10m"); err != nil {
		t.Fatal(err)
	}
	restored := false
	t.Cleanup(func() {
		if !restored {
			_ = env.RestartServerWith(context.Background())
		}
	})
	writeSource(t, dynamicSource, map[string]sourceEntry{"e2e-hang-long": pluginEntry(t, hang)})
	clearDynamic(t)
	harness.Eventually(t, 30*time.Second, "the plugin runs", func() (bool, string) {
		pids := pluginPIDs(t, dir)
		return len(pids) > 0 && running(pids[0]), fmt.Sprint(pids)
	})
	if err := env.RestartServerWith(ctx); err != nil {
		t.Fatal(err)
	}
	restored = true
	pid := pluginPIDs(t, dir)[0]
	harness.Eventually(t, 30*time.Second, "the plugin of the stopped server is gone", func() (bool, string) {
		return !running(pid), fmt.Sprintf("pid %d", pid)
	})
}
