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
	"io"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestStreamsEndWhenAccessChanges opens an exec session and a watch on a
// cluster through the hub, then changes the cluster's access configuration
// in its kubeconfig: both streams, opened with the old credential, end.
func TestStreamsEndWhenAccessChanges(t *testing.T) {
	const name = "e2e-rotating"
	members, err := clientcmd.LoadFromFile(env.MembersKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	entry := sourceEntry{cluster: members.Clusters["member-1"].DeepCopy(), user: members.AuthInfos["member-1"].DeepCopy()}
	writeSource(t, dynamicSource, map[string]sourceEntry{name: entry})
	clearDynamic(t)
	waitClusters(t, map[string]string{name: entry.cluster.Server})
	kc := env.ProxyKubeconfigOf(t, env.HubKubeconfig, name)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := env.KubectlCmd(ctx, kc, "exec", "-i", node.Pod, "--", "cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	execExited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(execExited) }()
	defer func() { stdin.Close(); cancel(); <-execExited }()
	if _, err := io.WriteString(stdin, "before\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "before\n" {
		t.Fatalf("exec -i cat echoed %q (%v)", line, err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.HubURL+harness.ProxyPath(name, "/api/v1/namespaces/default/configmaps?watch=1"), http.NoBody)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: hubTLS(t, env.HubKubeconfig)}}).Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v", resp, err)
	}
	watchEnded := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(watchEnded) }()

	// The same member, reached with a changed access configuration.
	entry.cluster.TLSServerName = "localhost"
	writeSource(t, dynamicSource, map[string]sourceEntry{name: entry})

	bound := time.After(30 * time.Second) // bounds a hang, not a goal
	for name, ended := range map[string]chan struct{}{"exec": execExited, "watch": watchEnded} {
		select {
		case <-ended:
		case <-bound:
			t.Fatalf("the %s stream is still open after the access change", name)
		}
	}
}
