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

package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before it is
// sent SIGKILL.
const stopGrace = 10 * time.Second

// process is a child process the harness started, with its output in a log
// file.
type process struct {
	name    string
	logFile string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	err     error         // the exit status, set before done is closed
	stopped atomic.Bool   // set once the harness has asked it to stop
}

// sysProcAttr puts a child in its own process group, so that stopping it
// also stops anything it started, and has the kernel kill it when the
// thread that started it dies, so that nothing outlives a crashed test.
// (Pdeathsig follows the starting OS thread; Go only ends threads that a
// goroutine locked and then left, which the harness never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startProcess runs bin with args, appending its output to logFile.
func startProcess(name, logFile, bin string, args ...string) (*process, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", name, err)
	}
	fmt.Fprintf(out, "=== %s: starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))

	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	p := &process{name: name, logFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		// The way it ended, in its log: a process killed outright prints
		// nothing of its own.
		how := "exited"
		if p.stopped.Load() {
			how = "stopped by the harness"
		}
		fmt.Fprintf(out, "=== %s: %s %s: %s\n", time.Now().Format(time.RFC3339Nano), name, how, p.cmd.ProcessState)
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes how the process ended, with the tail of its log.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.name, p.err, p.logFile, p.tail(40))
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace,
// and waits for the process to be reaped. Only the group this harness
// created is signalled, and only while its leader has not been reaped, so
// the signal cannot reach a process that reused the id.
func (p *process) stop() {
	if p.signalGroup(syscall.SIGTERM) {
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			p.signalGroup(syscall.SIGKILL)
			<-p.done
		}
	}
}

// signalGroup signals the process group and reports whether the process was
// still running.
func (p *process) signalGroup(sig syscall.Signal) bool {
	if p.exited() {
		return false
	}
	p.stopped.Store(true)
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Fall back to the leader alone, which os.Process signals safely.
		_ = p.cmd.Process.Signal(sig)
	}
	return true
}

// tail returns the last n lines of the process log.
func (p *process) tail(n int) string {
	return tailFile(p.logFile, n)
}

// tailFile returns the last n lines of a file, reading at most its last
// 64 KiB.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
