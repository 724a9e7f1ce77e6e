// Package execwrap runs exec credential plugins under a time limit.
// client-go runs a plugin without one, so a hanging plugin would hold every
// request to its cluster forever. Wrap rewrites an exec configuration to
// run the plugin through this server's own binary, which kills it when the
// limit passes; Main is that wrapper's entry point.
package execwrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Command is the first argument that makes the server binary act as the
// wrapper instead of serving.
const Command = "exec-plugin-with-timeout"

// Wrap returns a copy of cfg that runs its plugin through self (this
// binary) with the given time limit. cfg itself is not changed.
func Wrap(cfg *clientcmdapi.ExecConfig, self string, timeout time.Duration) *clientcmdapi.ExecConfig {
	out := cfg.DeepCopy()
	out.Command = self
	out.Args = append([]string{Command, timeout.String(), "--", cfg.Command}, cfg.Args...)
	return out
}

// Main runs "TIMEOUT -- COMMAND ARGS..." with this process's standard
// streams and environment (which carries KUBERNETES_EXEC_INFO), and returns
// the exit code: the plugin's, or 1 when it could not run or timed out.
func Main(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintf(os.Stderr, "usage: %s TIMEOUT -- COMMAND [ARGS...]\n", Command)
		return 1
	}
	timeout, err := time.ParseDuration(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: invalid timeout %q: %v\n", Command, args[0], err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[2], args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Kill the plugin's children too when the time is up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err = cmd.Run()
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "credential plugin %s did not finish within %s\n", args[2], timeout)
		return 1
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "running credential plugin %s: %v\n", args[2], err)
		return 1
	}
	return 0
}
