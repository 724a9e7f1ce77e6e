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
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// memory is a process's resident memory from /proc/PID/status, in KiB.
type memory struct {
	RSS int64 // VmRSS
	HWM int64 // VmHWM, the peak since start or the last resetPeak
	// File is RssFile: the pages of files mapped, mostly the binary's own
	// text and tables, which no heap figure includes.
	File int64
}

func readMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = n
		case "VmHWM":
			m.HWM = n
		case "RssFile":
			m.File = n
		}
	}
	return m, nil
}

// resetPeak resets VmHWM to the current RSS (Linux 4.0 and later).
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler records the highest VmRSS of a process, sampled every 10 ms,
// next to the kernel's own VmHWM.
type rssSampler struct {
	pid  int
	peak int64
	stop context.CancelFunc
	done chan struct{}
}

// sampleRSS resets the process's VmHWM and starts sampling.
func sampleRSS(pid int) *rssSampler {
	_ = resetPeak(pid)
	ctx, cancel := context.WithCancel(context.Background())
	s := &rssSampler{pid: pid, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMemory(pid); err == nil && m.RSS > s.peak {
				s.peak = m.RSS
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peak stops sampling and returns the highest RSS seen, in KiB.
func (s *rssSampler) Peak() int64 {
	s.stop()
	<-s.done
	if m, err := readMemory(s.pid); err == nil && m.HWM > s.peak {
		return m.HWM
	}
	return s.peak
}

// connSampler records the most ESTABLISHED TCP connections a process held
// to 127.0.0.1:port, sampled every 20 ms. Sampling costs CPU (the kernel
// prints every socket of the host): use it where connections, not
// latency, are measured.
type connSampler struct {
	mu   sync.Mutex
	peak int
	err  error
	stop context.CancelFunc
	done chan struct{}
}

func sampleConns(pid, port int) *connSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &connSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			n, err := harness.EstablishedTo(pid, port)
			s.mu.Lock()
			if err != nil && s.err == nil {
				s.err = err
			}
			s.peak = max(s.peak, n)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Peak stops sampling and returns the most connections seen.
func (s *connSampler) Peak() (int, error) {
	s.stop()
	<-s.done
	return s.peak, s.err
}

// cpuTime is the user plus system CPU time a process has used.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// findChild returns the process id of a child of this process whose command
// line contains every one of args, or 0.
func findChild(args ...string) int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		all := true
		for _, a := range args {
			if !strings.Contains(string(cmdline), a) {
				all = false
				break
			}
		}
		if all {
			return pid
		}
	}
	return 0
}

// busyCores measures how many cores the whole machine keeps busy over d,
// from /proc/stat: what else runs next to the bench.
func busyCores(d time.Duration) float64 {
	read := func() (busy, total float64) {
		line, _, _ := strings.Cut(readFile("/proc/stat"), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 == t0 {
		return 0
	}
	return (b1 - b0) / (t1 - t0) * float64(runtime.NumCPU())
}
