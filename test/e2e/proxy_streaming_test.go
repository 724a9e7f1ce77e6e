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
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// streamingCase is one kubectl command against member-1's pod, through the
// proxy: the streaming requests kubectl makes for exec, attach and cp.
type streamingCase struct {
	name  string
	env   []string // added to kubectl's environment
	args  []string
	stdin string
	want  string // kubectl's whole output
	// kubeletWants is a query parameter the kubelet must have got on the
	// request for the pod's exec or attach path.
	kubeletWants string
}

// TestProxyStreamingWithKubectl runs exec, exec -i, attach and cp with the
// real kubectl through the hub to member-1, whose kubelet endpoint runs real
// local commands, over WebSocket (kubectl's default) and SPDY.
func TestProxyStreamingWithKubectl(t *testing.T) {
	testStreaming(t, env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1"))
}

// testStreaming runs the streaming cases with kubeconfig, whose server
// leads to member-1.
func testStreaming(t *testing.T, kubeconfig string) {
	pod := node.Pod
	spdy := []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}
	cases := []streamingCase{
		{name: "exec/WebSocket", args: []string{"exec", pod, "--", "echo", "hi from the pod"}, want: "hi from the pod\n", kubeletWants: "command=hi+from+the+pod"},
		{name: "exec/SPDY", env: spdy, args: []string{"exec", pod, "--", "echo", "hi over spdy"}, want: "hi over spdy\n", kubeletWants: "command=hi+over+spdy"},
		{name: "exec -i/WebSocket", args: []string{"exec", "-i", pod, "--", "tr", "a-z", "A-Z"}, stdin: "shout this\n", want: "SHOUT THIS\n", kubeletWants: "command=A-Z"},
		{name: "exec -i/SPDY", env: spdy, args: []string{"exec", "-i", pod, "--", "tr", "a-z", "A-Z"}, stdin: "and this\n", want: "AND THIS\n", kubeletWants: "input=1"},
		{name: "exec exit code", args: []string{"exec", pod, "--", "sh", "-c", "echo out; exit 3"}, want: "out\n", kubeletWants: "exit+3"},
		{name: "attach -i/WebSocket", args: []string{"attach", "-i", "-q", pod}, stdin: "echoed back\n", want: "echoed back\n", kubeletWants: "input=1"},
		{name: "attach -i/SPDY", env: spdy, args: []string{"attach", "-i", "-q", pod}, stdin: "echoed again\n", want: "echoed again\n", kubeletWants: "input=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := env.KubectlCmd(ctx, kubeconfig, tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			before := len(node.KubeletRequests())
			out, err := cmd.CombinedOutput()
			if tc.name == "exec exit code" {
				if code := cmd.ProcessState.ExitCode(); code != 3 {
					t.Errorf("kubectl exited %d (%v), want the command's 3; output %q", code, err, out)
				}
			} else if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			if diff := cmp.Diff(tc.want, stripExitNotice(string(out))); diff != "" {
				t.Errorf("kubectl %s output (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
			seen := node.KubeletRequests()[before:]
			if !anyContains(seen, tc.kubeletWants) {
				t.Errorf("the kubelet got %q; want a request with %q", seen, tc.kubeletWants)
			}
		})
	}

	t.Run("cp both ways", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.txt")
		content := "copied through the proxy\n" + strings.Repeat("0123456789", 10000)
		if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// The pod's commands run on this machine, so the pod's file system
		// is this one: copy into dir and back out of it.
		inPod := filepath.Join(dir, "in-pod.txt")
		if out, err := kubectlAs(kubeconfig, "cp", src, node.Namespace+"/"+pod+":"+inPod); err != nil {
			t.Fatalf("kubectl cp to the pod: %v\n%s", err, out)
		}
		if got, err := os.ReadFile(inPod); err != nil || string(got) != content {
			t.Fatalf("after kubectl cp to the pod, %s holds %d bytes (%v), want %d", inPod, len(got), err, len(content))
		}
		back := filepath.Join(dir, "back.txt")
		if out, err := kubectlAs(kubeconfig, "cp", node.Namespace+"/"+pod+":"+inPod, back); err != nil {
			t.Fatalf("kubectl cp from the pod: %v\n%s", err, out)
		}
		if got, err := os.ReadFile(back); err != nil || string(got) != content {
			t.Fatalf("after kubectl cp from the pod, %s holds %d bytes (%v), want %d", back, len(got), err, len(content))
		}
	})

	for _, mode := range []struct{ name, env string }{{"WebSocket", ""}, {"SPDY", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}} {
		t.Run("port-forward/"+mode.name, func(t *testing.T) {
			portForwardEcho(t, kubeconfig, mode.env)
		})
	}
}

// portForwardEcho runs kubectl port-forward to the pod's echo port and
// checks that bytes go both ways, over two connections.
func portForwardEcho(t *testing.T, kubeconfig, extraEnv string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := env.KubectlCmd(ctx, kubeconfig, "port-forward", "pod/"+node.Pod, fmt.Sprintf(":%d", 8080), "--address=127.0.0.1")
	if extraEnv != "" {
		cmd.Env = append(os.Environ(), extraEnv)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	// "Forwarding from 127.0.0.1:PORT -> 8080"
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("kubectl port-forward printed %q (%v); stderr: %s", line, err, stderr.String())
	}
	for i := range 2 {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+m[1], 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		msg := fmt.Sprintf("connection %d: %s\n", i, strings.Repeat("x", 64<<10))
		go func() { _, _ = io.WriteString(conn, msg) }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, got); err != nil {
			conn.Close()
			t.Fatalf("reading the echo over port-forward: %v; stderr: %s", err, stderr.String())
		}
		conn.Close()
		if string(got) != msg {
			t.Fatalf("the echo over port-forward differs from what was sent")
		}
	}
}

// stripExitNotice drops the line kubectl adds when a command exits non-zero.
func stripExitNotice(out string) string {
	var keep []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(l, "command terminated with exit code") && l != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// anyContains tells whether one of list contains sub.
func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestProxyLogsFollow holds kubectl logs -f through the proxy past the
// request timeouts and checks that lines keep arriving.
func TestProxyLogsFollow(t *testing.T) {
	t.Parallel()
	kc := env.ProxyKubeconfigOf(t, env.HubKubeconfig, "member-1")
	ctx, cancel := context.WithTimeout(t.Context(), watchHold+30*time.Second)
	defer cancel()
	cmd := env.KubectlCmd(ctx, kc, "logs", "-f", node.Pod)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	start := time.Now()
	lines := bufio.NewScanner(stdout)
	var last string
	for lines.Scan() {
		last = lines.Text()
		if time.Since(start) > watchHold {
			break
		}
	}
	if held := time.Since(start); held < watchHold {
		t.Fatalf("kubectl logs -f ended after %s (last line %q, %v); want it held past %s", held, last, lines.Err(), watchHold)
	}
	if !strings.Contains(last, "tick") {
		t.Errorf("last line %q; want the kubelet's ticks", last)
	}
}
