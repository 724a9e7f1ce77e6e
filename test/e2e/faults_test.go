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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// responseHeaderTimeout is the suite's --proxy-response-header-timeout.
const responseHeaderTimeout = 5 * time.Second

// readyCondition returns a Cluster's Ready condition, or one whose message
// says why there is none.
func readyCondition(t *testing.T, name string) metav1.Condition {
	t.Helper()
	c, err := env.HubClusters(t).ClustersV1alpha1().Clusters().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return metav1.Condition{Message: err.Error()}
	}
	for _, cond := range c.Status.Conditions {
		if cond.Type == "Ready" {
			return cond
		}
	}
	return metav1.Condition{Message: "no Ready condition"}
}

// waitReady waits until cluster's Ready condition has status and reason.
func waitReady(t *testing.T, name, status, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	harness.Eventually(t, 30*time.Second, name+" turns Ready="+status+" "+reason, func() (bool, string) {
		got = readyCondition(t, name)
		return string(got.Status) == status && got.Reason == reason, string(got.Status) + " " + got.Reason + ": " + got.Message
	})
	return got
}

// restartMember registers, for the end of the test, starting Members[i]
// again after a fault.
func restartMember(t *testing.T, i int) {
	t.Cleanup(func() {
		if err := env.StartMember(context.Background(), i); err != nil {
			t.Errorf("starting %s again: %v", env.Members[i].Name, err)
		}
	})
}

// TestSilentMember puts a stand-in on member-2's port that accepts
// connections, completes the TLS handshake and never answers. A proxied
// request gets 503 naming the cluster within the response-header timeout,
// the cluster turns Ready=False Unreachable, and a member that keeps
// failing the same way does not notify watchers again at every check. No
// cluster disappears, and all recovers when the member answers again.
func TestSilentMember(t *testing.T) {
	const i, name = 1, "member-2"
	ev := startInformer(t)
	admin := hubTLS(t, env.HubKubeconfig)
	url := env.HubURL + harness.ProxyPath(name, "/api/v1/namespaces/default")

	restore, err := env.SilenceMember(i)
	if err != nil {
		t.Fatal(err)
	}
	silent := true
	t.Cleanup(func() {
		if silent {
			restore()
			if err := env.StartMember(context.Background(), i); err != nil {
				t.Errorf("starting %s again: %v", name, err)
			}
		}
	})

	start := time.Now()
	resp := send(t, admin, http.MethodGet, url, nil, "")
	took := time.Since(start)
	if st := resp.status(); resp.code != http.StatusServiceUnavailable || !strings.Contains(st.Message, `cluster "`+name+`" cannot be reached`) {
		t.Errorf("a request to the silent member: %d %s; want 503 naming it", resp.code, resp.body)
	}
	// The hub waits for clusters-apiserver, which waits for the member's
	// response headers; nothing else may hold the request.
	if limit := responseHeaderTimeout + 10*time.Second; took > limit {
		t.Errorf("the 503 came after %s, more than the response-header timeout (%s) allows", took, responseHeaderTimeout)
	}
	t.Logf("the silent member's 503 came after %s: %s", took.Round(time.Millisecond), resp.status().Message)
	noCredentials(t, "the 503", string(resp.body))

	// The member's own shutdown fails checks first (connection refused);
	// then the stand-in's silence times them out.
	var cond metav1.Condition
	harness.Eventually(t, 30*time.Second, name+" turns Ready=False Unreachable, timing out", func() (bool, string) {
		cond = readyCondition(t, name)
		return string(cond.Status) == "False" && cond.Reason == "Unreachable" && strings.Contains(cond.Message, "deadline exceeded"),
			string(cond.Status) + " " + cond.Reason + ": " + cond.Message
	})
	t.Logf("%s: %s", name, cond.Message)
	// Several checks at --health-probe-max-interval (2s) fail the same way:
	// the Cluster, and so every watcher, hears of it once.
	mark := ev.mark()
	time.Sleep(6 * time.Second)
	if updates := ev.since(mark, "update "+name+" "); len(updates) > 0 {
		t.Errorf("a member that keeps failing the same way changed its Cluster %d times in 6s", len(updates))
	}

	restore()
	if err := env.StartMember(t.Context(), i); err != nil {
		t.Fatal(err)
	}
	silent = false
	waitReady(t, name, "True", "Healthy")
	harness.Eventually(t, 30*time.Second, "the proxy reaches the member again", func() (bool, string) {
		resp := send(t, admin, http.MethodGet, url, nil, "")
		return resp.code == http.StatusOK, string(resp.body)
	})
	if deleted := ev.since(0, "delete "); len(deleted) > 0 {
		t.Errorf("clusters disappeared during the fault: %v", deleted)
	}
}

// TestMemberDiesMidStream kills members (SIGKILL) under open streams: a
// watch of member-2 and an exec session on member-1's node, both through
// the hub's proxy. Each stream ends for its client, neither hangs, and the
// members come back with no cluster ever removed.
func TestMemberDiesMidStream(t *testing.T) {
	ev := startInformer(t)

	t.Run("watch", func(t *testing.T) {
		const i, name = 1, "member-2"
		cfg := harness.RESTConfig(t, env.ProxyKubeconfig(t, name))
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, err := kube.CoreV1().ConfigMaps("default").Watch(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		env.KillMember(i)
		restartMember(t, i)
		ended := time.After(30 * time.Second)
		for {
			select {
			case _, ok := <-w.ResultChan():
				if !ok {
					return // the stream ended
				}
			case <-ended:
				t.Fatalf("the watch of %s outlived its member by 30s", name)
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		const i = 0
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := env.KubectlCmd(ctx, env.ProxyKubeconfig(t, env.Members[i].Name),
			"exec", "-n", node.Namespace, node.Pod, "--", "sh", "-c", "echo started; exec sleep 30")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		first, exited := make(chan string, 1), make(chan error, 1)
		go func() {
			r := bufio.NewReader(out)
			line, _ := r.ReadString('\n')
			first <- line
			_, _ = io.Copy(io.Discard, r)
			exited <- cmd.Wait()
		}()
		select {
		case line := <-first:
			if line != "started\n" {
				t.Fatalf("kubectl exec printed %q first, want started", line)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kubectl exec did not start within 30s")
		}
		env.KillMember(i)
		restartMember(t, i)
		select {
		case err := <-exited:
			var exitErr *exec.ExitError
			if err == nil || !errors.As(err, &exitErr) {
				t.Errorf("kubectl exec ended with %v; want a failure, its member died", err)
			}
			t.Logf("kubectl exec ended: %v: %s", err, strings.TrimSpace(stderr.String()))
		case <-time.After(30 * time.Second):
			t.Fatal("kubectl exec outlived its member by 30s")
		}
	})

	t.Run("large list", func(t *testing.T) {
		const i, objects, size = 1, 120, 256 << 10 // 30 MiB of ConfigMaps
		name := env.Members[i].Name
		member := env.MemberKube(t, i)
		createNamespace(t, member, largeListNS)
		value := strings.Repeat("x", size)
		for n := range objects {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("large-%03d", n)}, Data: map[string]string{"v": value}}
			if _, err := member.CoreV1().ConfigMaps(largeListNS).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			_ = env.MemberKube(t, i).CoreV1().ConfigMaps(largeListNS).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		})

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.HubURL+harness.ProxyPath(name, "/api/v1/namespaces/"+largeListNS+"/configmaps"), http.NoBody)
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: hubTLS(t, env.HubKubeconfig)}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the list: %d", resp.StatusCode)
		}
		first := make([]byte, 64<<10)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		env.KillMember(i)
		restartMember(t, i)
		start := time.Now()
		n, err := io.Copy(io.Discard, resp.Body)
		total := int64(len(first)) + n
		switch {
		case err == nil:
			t.Errorf("the list of a member killed mid-answer ended without an error after %d bytes, as if complete", total)
		case total >= objects*size:
			t.Errorf("the whole list (%d bytes) arrived although its member was killed mid-answer", total)
		}
		t.Logf("the list ended after %d of at least %d bytes, %s after the member was killed: %v", total, objects*size, time.Since(start).Round(time.Millisecond), err)
	})

	for _, m := range env.Members {
		waitReady(t, m.Name, "True", "Healthy")
	}
	if deleted := ev.since(0, "delete "); len(deleted) > 0 {
		t.Errorf("clusters disappeared while members died: %v", deleted)
	}
}

// largeListNS holds the ConfigMaps of a list that its member dies in the
// middle of.
const largeListNS = "e2e-large-list"

// selfSignedCA returns a CA certificate in PEM that signed nothing the
// members serve.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e-unrelated-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestCAFileRotation points a kubeconfig context at member-1 with a CA
// file that holds an unrelated CA: the cluster is Ready=False TLSError and
// the proxy answers 503 saying the TLS handshake failed. Writing member-1's
// CA into the same file, with the kubeconfig untouched, rebuilds the
// member's transport: the cluster turns Ready and the proxy reaches it.
func TestCAFileRotation(t *testing.T) {
	const name = "e2e-ca-file"
	members, err := clientcmd.LoadFromFile(env.MembersKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	member := members.Clusters["member-1"]
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	writeSource(t, dynamicSource, map[string]sourceEntry{name: {
		cluster: &clientcmdapi.Cluster{Server: member.Server, CertificateAuthority: caFile},
		user:    members.AuthInfos["member-1"].DeepCopy(),
	}})
	t.Cleanup(func() { writeSource(t, dynamicSource, nil) })
	admin := hubTLS(t, env.HubKubeconfig)
	url := env.HubURL + harness.ProxyPath(name, "/api/v1/namespaces/default")

	cond := waitReady(t, name, "False", "TLSError")
	if !strings.Contains(cond.Message, "TLS handshake failed") {
		t.Errorf("Ready message %q does not say the TLS handshake failed", cond.Message)
	}
	resp := send(t, admin, http.MethodGet, url, nil, "")
	if resp.code != http.StatusServiceUnavailable || !strings.Contains(resp.status().Message, "TLS handshake failed") {
		t.Errorf("a request through the untrusted CA: %d %s; want 503 saying the TLS handshake failed", resp.code, resp.body)
	}

	// The rotation: same kubeconfig, the CA file now right.
	if err := os.WriteFile(caFile, member.CertificateAuthorityData, 0o600); err != nil {
		t.Fatal(err)
	}
	waitReady(t, name, "True", "Healthy")
	harness.Eventually(t, 30*time.Second, "the proxy reaches the member through the rotated CA", func() (bool, string) {
		resp := send(t, admin, http.MethodGet, url, nil, "")
		return resp.code == http.StatusOK, string(resp.body)
	})
}

// TestMalformedAnswers points a cluster at a plain HTTP server: its answer
// to an https request is not TLS. The cluster is Ready=False BadGateway
// and the proxy answers 502.
func TestMalformedAnswers(t *testing.T) {
	const name = "e2e-plain-http"
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("not a Kubernetes API server"))
	}))
	t.Cleanup(plain.Close)
	server := strings.Replace(plain.URL, "http://", "https://", 1)
	writeSource(t, dynamicSource, map[string]sourceEntry{name: {
		cluster: &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true},
		user:    &clientcmdapi.AuthInfo{Token: "e2e-token"},
	}})
	t.Cleanup(func() { writeSource(t, dynamicSource, nil) })

	cond := waitReady(t, name, "False", "BadGateway")
	t.Logf("%s: %s", name, cond.Message)
	resp := send(t, hubTLS(t, env.HubKubeconfig), http.MethodGet, env.HubURL+harness.ProxyPath(name, "/version"), nil, "")
	if resp.code != http.StatusBadGateway || resp.status().Reason != "BadGateway" {
		t.Errorf("a request to the plain HTTP server: %d %s; want 502 BadGateway", resp.code, resp.body)
	}
	noCredentials(t, "the 502", string(resp.body))
}

// TestFlappingMember kills and restarts member-2 three times. Each flap is
// a fall to Ready=False and a return to Ready=True, told to watchers in a
// few events, not one per failed check; the cluster converges to Ready
// and is never removed.
func TestFlappingMember(t *testing.T) {
	const i, name, flaps = 1, "member-2", 3
	ev := startInformer(t)
	mark := ev.mark()
	// What each event of the member said, for the log.
	var (
		saidMu sync.Mutex
		said   []string
	)
	watchReady(t, name, func(cond metav1.Condition) {
		saidMu.Lock()
		said = append(said, string(cond.Status)+" "+cond.Reason+": "+cond.Message)
		saidMu.Unlock()
	})
	down := false
	t.Cleanup(func() {
		if down {
			if err := env.StartMember(context.Background(), i); err != nil {
				t.Errorf("starting %s again: %v", name, err)
			}
		}
	})
	for range flaps {
		env.KillMember(i)
		down = true
		waitReady(t, name, "False", "Unreachable")
		if err := env.StartMember(t.Context(), i); err != nil {
			t.Fatal(err)
		}
		down = false
		waitReady(t, name, "True", "Healthy")
	}
	updates := ev.since(mark, "update "+name+" ")
	saidMu.Lock()
	t.Logf("%d flaps: %d watch events for %s:\n%s", flaps, len(updates), name, strings.Join(said, "\n"))
	saidMu.Unlock()
	// Per flap: down (connections refused), perhaps starting but not yet
	// answering (the check times out), starting (its /readyz answers 500
	// until it is ready), up; never one event per failed check. A busy
	// machine shows the timeout now and then (10 events for 3 flaps in
	// one CI run).
	if limit := 4 * flaps; len(updates) > limit {
		t.Errorf("%d flaps gave %d watch events, more than %d", flaps, len(updates), limit)
	}
	// Only the flapping cluster: tests running in parallel add and remove
	// clusters of their own meanwhile.
	for _, deleted := range ev.since(mark, "delete ") {
		if deleted == "delete "+name {
			t.Errorf("%s disappeared while it flapped", name)
		}
	}
}

// watchReady calls seen with cluster's Ready condition at every update the
// hub's watch delivers, until the test ends.
func watchReady(t *testing.T, cluster string, seen func(metav1.Condition)) {
	t.Helper()
	w, err := env.HubClusters(t).ClustersV1alpha1().Clusters().Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + cluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for e := range w.ResultChan() {
			c, ok := e.Object.(*clustersv1alpha1.Cluster)
			if !ok || e.Type != watch.Modified {
				continue
			}
			for _, cond := range c.Status.Conditions {
				if cond.Type == "Ready" {
					seen(cond)
				}
			}
		}
	}()
}
