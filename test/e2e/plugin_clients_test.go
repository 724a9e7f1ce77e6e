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
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetconfig"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// hubKubeconfigWith writes a kubeconfig for the hub, context "hub", whose
// user is user.
func hubKubeconfigWith(t *testing.T, user *clientcmdapi.AuthInfo) string {
	t.Helper()
	admin, err := clientcmd.LoadFromFile(env.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"], cfg.AuthInfos["hub"] = cluster, user
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "hub"}
	cfg.CurrentContext = "hub"
	path := filepath.Join(t.TempDir(), "hub.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// generate runs kubectl clusters kubeconfig with hubKubeconfig, checks
// that its user entry is the hub's as it is, and writes it with
// current context member-1.
func generate(t *testing.T, hubKubeconfig string, check func(*clientcmdapi.AuthInfo) error) string {
	t.Helper()
	out, stderr, code := runPlugin(t, hubKubeconfig, "kubeconfig")
	if code != 0 {
		t.Fatalf("kubectl clusters kubeconfig: exit %d: %s", code, stderr)
	}
	cfg, err := clientcmd.Load([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	user := cfg.AuthInfos[fleetconfig.UserPrefix+"hub"]
	if user == nil {
		t.Fatalf("no user %shub in\n%s", fleetconfig.UserPrefix, out)
	}
	if user.Token != "" || len(user.ClientKeyData) > 0 {
		t.Fatalf("the generated kubeconfig holds a secret of its own:\n%s", out)
	}
	if err := check(user); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	cfg.CurrentContext = "member-1"
	path := filepath.Join(t.TempDir(), "fleet.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPluginKubeconfigWithRealClients: a hub ServiceAccount whose hub
// kubeconfig reads its token from a file, and one whose kubeconfig runs an
// exec plugin, get kubeconfigs that still use that file and that plugin;
// through them the real kubectl runs exec, attach, cp, port-forward, logs
// -f, apply and get -w on member-1, whose RBAC allows it, and is refused
// by member-2, whose RBAC does not; a client-go informer runs on member-1.
func TestPluginKubeconfigWithRealClients(t *testing.T) {
	t.Parallel()
	const ns, hubNS, sa = "e2e-fleet-walk", "e2e-fleet-users", "fleet-walker"
	user := "system:serviceaccount:" + hubNS + ":" + sa
	bindClusterRole(t, "e2e-fleet-walker-role", user, readClusters, rbacv1.PolicyRule{
		APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters/proxy"},
		Verbs: []string{"get", "create"}, ResourceNames: []string{"member-1", "member-2"},
	})
	token, _ := hubServiceAccount(t, hubNS, sa, "e2e-fleet-walker-role")
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	bindRole(t, member, "e2e-fleet-walker", user,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/exec", "pods/attach", "pods/portforward"}, Verbs: []string{"get", "create"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"*"}},
	)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	gen := generate(t, hubKubeconfigWith(t, &clientcmdapi.AuthInfo{TokenFile: tokenFile}), func(u *clientcmdapi.AuthInfo) error {
		if u.TokenFile != tokenFile {
			return fmt.Errorf("user's tokenFile %q; want %q", u.TokenFile, tokenFile)
		}
		return nil
	})
	// member-1's RBAC takes the binding from an informer.
	harness.Eventually(t, 30*time.Second, "kubectl get pods through the generated context", func() (bool, string) {
		out, err := kubectlAs(gen, "get", "pod", node.Pod, "-o", "name")
		return err == nil && strings.TrimSpace(out) == "pod/"+node.Pod, fmt.Sprint(out, err)
	})

	t.Run("exec, attach, cp, port-forward", func(t *testing.T) { testStreaming(t, gen) })

	t.Run("logs -f", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := env.KubectlCmd(ctx, gen, "logs", "-f", node.Pod)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = cmd.Wait() }()
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if strings.Contains(lines.Text(), "tick 2") {
				return
			}
		}
		t.Fatalf("kubectl logs -f ended before the kubelet's second tick: %v", lines.Err())
	})

	t.Run("apply and get -w", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		watch := env.KubectlCmd(ctx, gen, "get", "configmaps", "-n", ns, "-w", "-o", "name")
		stdout, err := watch.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := watch.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = watch.Wait() }()
		apply := env.KubectlCmd(ctx, gen, "apply", "-f", "-")
		apply.Stdin = strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: " + ns + "\ndata:\n  a: \"1\"\n")
		if out, err := apply.CombinedOutput(); err != nil {
			t.Fatalf("kubectl apply: %v: %s", err, out)
		}
		if cm, err := member.CoreV1().ConfigMaps(ns).Get(ctx, "applied", metav1.GetOptions{}); err != nil || cm.Data["a"] != "1" {
			t.Fatalf("member-1's ConfigMap after kubectl apply: %v %v", cm, err)
		}
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if lines.Text() == "configmap/applied" {
				return
			}
		}
		t.Fatalf("kubectl get -w ended without configmap/applied: %v", lines.Err())
	})

	t.Run("client-go informer", func(t *testing.T) {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: gen}, &clientcmd.ConfigOverrides{CurrentContext: "member-1"}).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(ns))
		var mu sync.Mutex
		added := map[string]bool{}
		_, err = factory.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
			mu.Lock()
			defer mu.Unlock()
			added[obj.(*corev1.ConfigMap).Name] = true
		}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer func() { cancel(); factory.Shutdown() }()
		factory.Start(ctx.Done())
		for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				t.Fatalf("the %v informer did not sync through the generated context", typ)
			}
		}
		if _, err := member.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "informed"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 30*time.Second, "the informer sees the new ConfigMap", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return added["informed"], fmt.Sprint(added)
		})
	})

	t.Run("refused by member-2", func(t *testing.T) {
		out, err := kubectlAs(gen, "--context", "member-2", "exec", node.Pod, "--", "echo", "no")
		if want := `User "` + user + `" cannot get resource "pods"`; err == nil || !strings.Contains(out, want) {
			t.Errorf("kubectl exec on member-2: %v, %q; want member-2's refusal naming the user", err, out)
		}
	})

	// As a shared Headlamp deployment uses it: no credential in the
	// kubeconfig, each person's token sent by the client.
	t.Run("no-credential, the client's token", func(t *testing.T) {
		out, stderr, code := runPlugin(t, hubKubeconfigWith(t, &clientcmdapi.AuthInfo{TokenFile: tokenFile}), "kubeconfig", "--no-credential")
		if code != 0 {
			t.Fatalf("kubectl clusters kubeconfig --no-credential: exit %d: %s", code, stderr)
		}
		cfg, err := clientcmd.Load([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		ctx := cfg.Contexts["member-1"]
		if u := cfg.AuthInfos[ctx.AuthInfo]; u == nil || u.TokenFile != "" || u.Token != "" || u.Exec != nil || strings.Contains(out, tokenFile) {
			t.Fatalf("--no-credential kept a credential:\n%s", out)
		}
		if len(cfg.Clusters["member-1"].CertificateAuthorityData) == 0 {
			t.Errorf("--no-credential: no CA inline:\n%s", out)
		}
		cfg.CurrentContext = "member-1"
		path := filepath.Join(t.TempDir(), "shared.kubeconfig")
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			t.Fatal(err)
		}
		if out, err := kubectlAs(path, "--token", token, "get", "configmap", "applied", "-n", ns, "-o", "name"); err != nil || strings.TrimSpace(out) != "configmap/applied" {
			t.Errorf("kubectl --token through the no-credential kubeconfig: %v %q", err, out)
		}
		if out, err := kubectlAs(path, "get", "configmap", "applied", "-n", ns); err == nil {
			t.Errorf("kubectl without a token through the no-credential kubeconfig succeeded: %q", out)
		}
	})

	t.Run("exec plugin user", func(t *testing.T) {
		runs := filepath.Join(dir, "runs")
		script := filepath.Join(dir, "credential")
		body := fmt.Sprintf("#!/bin/sh\necho run >> %s\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\"}}' \"$(cat %s)\"\n", runs, tokenFile)
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		exec := &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: script, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}
		gen := generate(t, hubKubeconfigWith(t, &clientcmdapi.AuthInfo{Exec: exec}), func(u *clientcmdapi.AuthInfo) error {
			if u.Exec == nil || u.Exec.Command != script {
				return fmt.Errorf("user's exec %+v; want command %s", u.Exec, script)
			}
			return nil
		})
		before, _ := os.ReadFile(runs)
		if out, err := kubectlAs(gen, "get", "configmap", "applied", "-n", ns, "-o", "name"); err != nil || strings.TrimSpace(out) != "configmap/applied" {
			t.Errorf("kubectl get through the exec plugin user: %v %q", err, out)
		}
		if after, _ := os.ReadFile(runs); len(after) <= len(before) {
			t.Errorf("the exec plugin did not run for kubectl")
		}
	})
}
