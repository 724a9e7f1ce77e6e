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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestWrapCopies(t *testing.T) {
	t.Parallel()
	cfg := &clientcmdapi.ExecConfig{Command: "plugin", Args: []string{"--a"}, APIVersion: "client.authentication.k8s.io/v1"}
	got := WrapExec(cfg, "/bin/self", 5*time.Second, "m")
	if diff := cmp.Diff([]string{ExecCommand, "5s", "--", "plugin", "--a"}, got.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if got.Command != "/bin/self" || cfg.Command != "plugin" || len(cfg.Args) != 1 {
		t.Errorf("Wrap changed its input or did not wrap: in %+v out %+v", cfg, got)
	}
}

func TestExecMain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"5s", "--", "true"}, 0},
		{"plugin exit code", []string{"5s", "--", "sh", "-c", "exit 3"}, 3},
		{"timeout kills a hanging plugin", []string{"200ms", "--", "sleep", "30"}, ExecExitTimeout},
		{"missing plugin", []string{"5s", "--", "/does/not/exist"}, ExecExitNotRun},
		{"bad usage", []string{"5s", "true"}, ExecExitNotRun},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			if got := ExecMain(tc.args); got != tc.want {
				t.Errorf("Main(%v) = %d, want %d", tc.args, got, tc.want)
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("Main(%v) did not stop the plugin", tc.args)
			}
		})
	}
}

// TestMainKillsWhatThePluginLeaves runs a plugin that leaves a child
// holding its standard output: the child must not outlive the plugin.
func TestExecMainKillsWhatThePluginLeaves(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	if got := ExecMain([]string{"5s", "--", "sh", "-c", "sleep 60 & echo $! > " + pidFile}); got != 0 {
		t.Fatalf("Main = %d, want 0", got)
	}
	data, err := os.ReadFile(pidFile)
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
			t.Fatalf("the plugin's child is still running: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMainIsNotHeldByADetachedChild runs a plugin that prints its output
// and leaves a child in a session of its own, out of reach of the group
// kill, holding that output: the wrapper still ends, with the output.
func TestExecMainIsNotHeldByADetachedChild(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	done := make(chan int, 1)
	go func() {
		done <- ExecMain([]string{"5s", "--", "sh", "-c", "echo credential; setsid sh -c 'echo $$ > " + pidFile + "; exec sleep 60' &"})
	}()
	select {
	case got := <-done:
		if got != 0 {
			t.Errorf("Main = %d, want 0", got)
		}
	case <-time.After(20 * time.Second): // bounds a hang, not a goal
		t.Error("the wrapper waited for a detached child")
	}
	// End the child this test started, by its PID.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
