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
	"os"
	"strconv"
	"time"
)

// cpuMeter measures the CPU time each process of the system uses.
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
	began time.Time
}

// cpuUse is the CPU time each process used over wall time.
type cpuUse struct {
	byProcess map[string]time.Duration
	wall      time.Duration
}

// processes returns the process ids of every process a request may touch:
// the bench itself (the clients), the hub, member-1, etcd and
// clusters-apiserver.
func (b *bench) processes() map[string]int {
	hubPort, _ := portOf(b.env.HubURL)
	pids := map[string]int{
		"client":             os.Getpid(),
		"hub":                findChild("kube-apiserver", "--secure-port="+strconv.Itoa(hubPort)),
		"member":             findChild("kube-apiserver", "--secure-port="+strconv.Itoa(b.memberPort)),
		"etcd":               findChild("etcd", "--name=harness"),
		"clusters-apiserver": b.env.ServerPID(),
	}
	for name, pid := range pids {
		if pid == 0 {
			delete(pids, name)
		}
	}
	return pids
}

// startCPU starts measuring.
func (b *bench) startCPU() *cpuMeter {
	m := &cpuMeter{pids: b.processes(), start: map[string]time.Duration{}, began: time.Now()}
	for name, pid := range m.pids {
		m.start[name], _ = cpuTime(pid)
	}
	return m
}

// stop returns the CPU time used since start.
func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{byProcess: map[string]time.Duration{}, wall: time.Since(m.began)}
	for name, pid := range m.pids {
		if now, err := cpuTime(pid); err == nil {
			u.byProcess[name] = now - m.start[name]
		}
	}
	return u
}

// add pools o into u.
func (u *cpuUse) add(o cpuUse) {
	if u.byProcess == nil {
		u.byProcess = map[string]time.Duration{}
	}
	for name, d := range o.byProcess {
		u.byProcess[name] += d
	}
	u.wall += o.wall
}

// perRequest returns the CPU milliseconds each process used per request,
// "total", their sum, and "busyCores", how many cores they kept busy.
func (u cpuUse) perRequest(requests int) map[string]float64 {
	out := map[string]float64{}
	if requests == 0 || u.wall == 0 {
		return out
	}
	var total time.Duration
	for name, d := range u.byProcess {
		total += d
		out[name] = ms(d) / float64(requests)
	}
	out["total"] = ms(total) / float64(requests)
	out["busyCores"] = total.Seconds() / u.wall.Seconds()
	return out
}
