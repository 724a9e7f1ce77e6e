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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 6: exec credential plugin runs.
const (
	execCluster     = "bench-exec"
	execRequests    = 1000
	execConcurrency = 16
	// execLifetime is how long the plugin's credential is valid: longer
	// than the scenario, so one run should serve it all.
	execLifetime = time.Hour
)

// execFigures is scenario 6.
type execFigures struct {
	Requests      int     `json:"requests"`
	Load          stats   `json:"load"`
	RunsBefore    int     `json:"runsBeforeRequests"`
	RunsAfter     int     `json:"runsAfterRequests"`
	RunsPer1000   float64 `json:"runsPer1000Requests"`
	CredentialTTL string  `json:"credentialLifetime"`
}

// execPlugin is scenario 6: a kubeconfig context of member-1 whose user is
// an exec plugin that counts its runs and prints a ServiceAccount token of
// member-1, valid for an hour; 1,000 GETs through the hub's proxy to it.
func (b *bench) execPlugin(ctx context.Context) error {
	token, err := b.execToken(ctx)
	if err != nil {
		return err
	}
	counter := filepath.Join(b.work, "exec-runs")
	script := filepath.Join(b.work, "exec-plugin.sh")
	cred, err := json.Marshal(map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1",
		"kind":       "ExecCredential",
		"status": map[string]any{
			"token":               token,
			"expirationTimestamp": time.Now().Add(execLifetime).UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return err
	}
	body := fmt.Sprintf("#!/bin/sh\necho run >> %q\ncat <<'EOF'\n%s\nEOF\n", counter, cred)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		return err
	}
	members, err := clientcmd.LoadFromFile(b.env.MembersKubeconfig)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[execCluster] = members.Clusters["member-1"]
	cfg.AuthInfos[execCluster] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1", Command: script, InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
	cfg.Contexts[execCluster] = &clientcmdapi.Context{Cluster: execCluster, AuthInfo: execCluster}
	if err := clientcmd.WriteToFile(*cfg, b.execSource); err != nil {
		return err
	}

	ep := b.clients.viaHub(harness.ProxyPath(execCluster, smallPath))
	if err := b.waitOK(ctx, ep, 30*time.Second); err != nil {
		return fmt.Errorf("waiting for cluster %s: %w", execCluster, err)
	}
	f := execFigures{Requests: execRequests, CredentialTTL: execLifetime.String()}
	f.RunsBefore = countLines(counter)
	st, err := load{concurrency: execConcurrency, requests: execRequests}.run(ctx, ep)
	if err != nil {
		return err
	}
	f.Load = st
	f.RunsAfter = countLines(counter)
	f.RunsPer1000 = float64(f.RunsAfter-f.RunsBefore) * 1000 / float64(st.Requests)
	b.report.figure("6-exec-plugin", f)
	b.report.check("6", fmt.Sprintf("exec credential plugin runs: %d proxied GETs (%.0f req/s), credential valid %s", st.Requests, st.RPS, execLifetime),
		fmt.Sprintf("%d during the GETs, %d in all", f.RunsAfter-f.RunsBefore, f.RunsAfter), "≤ 1 per credential lifetime", f.RunsAfter <= 1)
	return nil
}

// execToken creates a ServiceAccount on member-1 bound to cluster-admin
// (which includes impersonation, as the proxy's default mode needs) and
// returns a token of it.
func (b *bench) execToken(ctx context.Context) (string, error) {
	kube, err := memberKube(b.env)
	if err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: execCluster, Namespace: "default"}}
	if _, err := kube.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: execCluster},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: execCluster, Namespace: "default"}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	ttl := int64((execLifetime + 10*time.Minute) / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts("default").CreateToken(ctx, execCluster,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token on member-1: %w", err)
	}
	return tr.Status.Token, nil
}

// waitOK polls ep until it answers 200.
func (b *bench) waitOK(ctx context.Context, ep endpoint, timeout time.Duration) error {
	client := httpClient(ep.tls)
	defer client.CloseIdleConnections()
	return retry(ctx, timeout, func() error {
		_, err := get(ctx, client, ep)
		return err
	})
}

// retry calls try every 100 ms until it returns nil, and returns its last
// error once timeout has passed.
func retry(ctx context.Context, timeout time.Duration, try func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countLines counts the lines of a file; 0 when it does not exist.
func countLines(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}
