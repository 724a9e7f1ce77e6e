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
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestProxyKubectl runs the real kubectl against member-1 through the hub,
// with a kubeconfig whose server is the hub's proxy URL for member-1 and
// the hub admin's credentials.
func TestProxyKubectl(t *testing.T) {
	const ns = "e2e-proxy-kubectl"
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	kc := env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1")
	t.Cleanup(func() {
		_ = member.CoreV1().ConfigMaps(ns).Delete(context.Background(), "e2e-cm", metav1.DeleteOptions{})
	})

	// memberData is the data of ConfigMap e2e-cm as member-1 itself has it.
	memberData := func() string {
		cm, err := member.CoreV1().ConfigMaps(ns).Get(t.Context(), "e2e-cm", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "<none>"
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(cm.Data)
		return string(data)
	}
	steps := []struct {
		name       string
		args       []string
		wantOut    string // must appear in kubectl's output
		wantMember string // memberData afterwards; empty: not checked
	}{
		{"get ns", []string{"get", "ns", "-o", "name"}, "namespace/" + ns, ""},
		// dryRun reaches the member, which creates nothing.
		{"create --dry-run=server", []string{"create", "configmap", "e2e-cm", "-n", ns, "--from-literal=a=1", "--dry-run=server"}, "configmap/e2e-cm created (server dry run)", "<none>"},
		{"create", []string{"create", "configmap", "e2e-cm", "-n", ns, "--from-literal=a=1"}, "configmap/e2e-cm created", `{"a":"1"}`},
		{"get", []string{"get", "configmap", "e2e-cm", "-n", ns, "-o", "jsonpath={.data.a}"}, "1", ""},
		{"patch", []string{"patch", "configmap", "e2e-cm", "-n", ns, "--type=merge", "-p", `{"data":{"a":"2"}}`}, "configmap/e2e-cm patched", `{"a":"2"}`},
		{"delete", []string{"delete", "configmap", "e2e-cm", "-n", ns}, `configmap "e2e-cm" deleted`, "<none>"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			out, err := kubectlAs(kc, step.args...)
			if err != nil || !strings.Contains(out, step.wantOut) {
				t.Fatalf("kubectl %s = %v, %q; want output with %q", strings.Join(step.args, " "), err, out, step.wantOut)
			}
			if step.wantMember != "" {
				if got := memberData(); got != step.wantMember {
					t.Errorf("member-1 has data %s, want %s", got, step.wantMember)
				}
			}
		})
	}
	// The namespace is member-1's, not the hub's.
	if out, err := kubectlAs(env.HubKubeconfig, "get", "ns", ns); err == nil {
		t.Errorf("the hub has namespace %s too: %s", ns, out)
	}
}

// watchHold is how long a watch through the proxy must live: longer than
// the 60 s that the hub and generic API servers give requests that are
// not long-running.
const watchHold = 70 * time.Second

// TestProxyKubectlWatchOutlivesRequestTimeout holds `kubectl get cm -w`
// through the proxy past watchHold and checks it still receives events.
func TestProxyKubectlWatchOutlivesRequestTimeout(t *testing.T) {
	t.Parallel() // it mostly waits: hold it beside TestProxyLogsFollow
	const ns = "e2e-proxy-watch"
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	ctx, cancel := context.WithTimeout(t.Context(), watchHold+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), "--kubeconfig", env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1"),
		"get", "configmaps", "-n", ns, "-w", "-o", "name")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := &events{}
	exited := make(chan struct{})
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines.add(s.Text())
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { cancel(); <-exited })

	create := func(name string) {
		t.Helper()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := member.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = member.CoreV1().ConfigMaps(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	started := time.Now()
	suffix := fmt.Sprint(started.UnixNano())
	create("before-" + suffix)
	harness.Eventually(t, 30*time.Second, "kubectl -w sees the first ConfigMap", func() (bool, string) {
		return lines.has("configmap/before-" + suffix)
	})
	// Hold the watch: kubectl must not exit while it lasts.
	select {
	case <-exited:
		t.Fatalf("kubectl -w exited after %s: %s", time.Since(started).Round(time.Second), stderr.String())
	case <-time.After(time.Until(started.Add(watchHold))):
	}
	create("after-" + suffix)
	harness.Eventually(t, 30*time.Second, "kubectl -w sees a ConfigMap created after "+watchHold.String(), func() (bool, string) {
		return lines.has("configmap/after-" + suffix)
	})
}

// largeListSize is how many ConfigMaps TestProxyLargeListIsByteIdentical
// lists: a response of several MB.
const largeListSize = 3000

// TestProxyLargeListIsByteIdentical lists thousands of ConfigMaps with
// `kubectl get --raw` through the proxy and straight from member-1, at
// the same resourceVersion, and compares the answers byte for byte.
func TestProxyLargeListIsByteIdentical(t *testing.T) {
	const ns = "e2e-proxy-large"
	member := env.MemberKube(t, 0)
	createNamespace(t, member, ns)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		_ = member.CoreV1().ConfigMaps(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})

	// Create them with a bounded pool of workers.
	names := make(chan string)
	errs := make(chan error, largeListSize)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for name := range names {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"n": name}}
				if _, err := member.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- err
				}
			}
		})
	}
	start := time.Now()
	for i := range largeListSize {
		names <- fmt.Sprintf("cm-%05d", i)
	}
	close(names)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating ConfigMaps on member-1: %v", err)
	}
	t.Logf("created %d ConfigMaps in %s", largeListSize, time.Since(start).Round(100*time.Millisecond))

	// Pin the resourceVersion, so both answers are the same list.
	page, err := member.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/configmaps?resourceVersion=%s&resourceVersionMatch=Exact", ns, page.ResourceVersion)
	direct, stderr, err := env.Kubectl(ctx, env.Members[0].Kubeconfig, "get", "--raw", path)
	if err != nil {
		t.Fatalf("kubectl get --raw from member-1: %v: %s", err, stderr)
	}
	var list corev1.ConfigMapList
	if err := json.Unmarshal([]byte(direct), &list); err != nil || len(list.Items) != largeListSize {
		t.Fatalf("member-1 listed %d ConfigMaps (%v), want %d", len(list.Items), err, largeListSize)
	}
	proxied, stderr, err := env.Kubectl(ctx, env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1"), "get", "--raw", path)
	if err != nil {
		t.Fatalf("kubectl get --raw through the proxy: %v: %s", err, stderr)
	}
	if proxied != direct {
		i := 0
		for i < len(proxied) && i < len(direct) && proxied[i] == direct[i] {
			i++
		}
		t.Fatalf("through the proxy: %d bytes, straight from member-1: %d bytes; first difference at byte %d: %.80q vs %.80q",
			len(proxied), len(direct), i, proxied[i:], direct[i:])
	}
	t.Logf("both answers are %d bytes", len(direct))
}
