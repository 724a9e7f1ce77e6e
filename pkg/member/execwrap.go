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

// Exec credential plugins run under a time limit, or a hanging plugin would
// hold every request to its cluster forever. WrapExec rewrites an exec
// configuration to run the plugin through this server's own binary, which
// kills it, with whatever it started, when the limit passes or the server
// goes away; ExecMain is that wrapper's entry point.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ExecCommand is the first argument that makes the server binary act as the
// wrapper instead of serving.
const ExecCommand = "exec-plugin-with-timeout"

// Exit codes of the wrapper besides the plugin's own, as timeout(1) and
// shells use them; client-go reports them as "failed with exit code N".
const (
	// ExecExitTimeout: the plugin did not finish in time and was killed.
	ExecExitTimeout = 124
	// ExecExitNotRun: the plugin could not be started.
	ExecExitNotRun = 127
)

// MemberEnv names the environment variable that carries the member's name
// to the plugin run for it.
const MemberEnv = "CLUSTERS_APISERVER_MEMBER"

// WrapExec returns a copy of cfg that runs its plugin through self (this
// binary) with the given time limit, for the member named member, whose
// name the plugin finds in its environment. cfg itself is not changed.
func WrapExec(cfg *clientcmdapi.ExecConfig, self string, timeout time.Duration, member string) *clientcmdapi.ExecConfig {
	out := cfg.DeepCopy()
	out.Command = self
	out.Args = append([]string{ExecCommand, timeout.String(), "--", cfg.Command}, cfg.Args...)
	out.Env = append(out.Env, clientcmdapi.ExecEnvVar{Name: MemberEnv, Value: member})
	return out
}

// maxOutput bounds what is kept of a plugin's output: an ExecCredential
// is a few kilobytes.
const maxOutput = 1 << 20

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

// Write implements io.Writer, dropping what passes maxOutput.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ExecMain runs "TIMEOUT -- COMMAND ARGS..." with this process's standard input
// and output and environment (which carries KUBERNETES_EXEC_INFO), and
// returns the plugin's exit code, ExitTimeout or ExitNotRun. The plugin's
// standard error is discarded: it is free text that may hold a credential.
// The plugin is killed, with its
// children, when the time is up and when the server or this wrapper is
// stopped.
func ExecMain(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintf(os.Stderr, "usage: %s TIMEOUT -- COMMAND [ARGS...]\n", ExecCommand)
		return ExecExitNotRun
	}
	timeout, err := time.ParseDuration(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid timeout %q\n", ExecCommand, args[0])
		return ExecExitNotRun
	}
	// Stop with the server, even when it is killed outright.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, args[2], args[3:]...)
	// The plugin writes to a pipe of this wrapper, not to the wrapper's own
	// output: a child it leaves behind, even one that left the process
	// group, cannot keep client-go reading. Once the plugin has exited,
	// its output is read for WaitDelay at most. Standard error goes to the
	// null device (nil).
	var out limitedBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, &out, nil
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err = cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // the plugin succeeded; what it left behind held its output
	}
	if err == nil {
		_, _ = os.Stdout.Write(out.Bytes())
	}
	if cmd.Process != nil {
		// Whatever the plugin left behind in its group (a child still
		// holding standard output would keep client-go reading) goes with
		// it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var exit *exec.ExitError
	// The messages name neither the plugin nor its arguments, should
	// standard error ever reach a log.
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		fmt.Fprintf(os.Stderr, "credential plugin did not finish within %s\n", timeout)
		return ExecExitTimeout
	case ctx.Err() != nil:
		return ExecExitNotRun
	case errors.As(err, &exit):
		return exit.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "credential plugin could not be run")
		return ExecExitNotRun
	}
	return 0
}
