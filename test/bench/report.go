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
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// report is everything a run measured, with what it ran on.
type report struct {
	Date        string            `json:"date"`
	Commit      string            `json:"commit"`
	Dirty       bool              `json:"dirty"`
	Machine     machine           `json:"machine"`
	Versions    map[string]string `json:"versions"`
	Settings    map[string]string `json:"settings"`
	WallSeconds float64           `json:"wallSeconds"`
	// Figures holds every number, by scenario.
	Figures map[string]any `json:"figures"`
	// Rows are the table's rows, with targets and whether they were met.
	Rows []row `json:"rows"`
	// Missed lists the rows whose target was not met.
	Missed []string `json:"missed"`
	// Errors are scenarios that could not finish.
	Errors map[string]string `json:"errors,omitempty"`

	mu sync.Mutex
}

// machine is what the run ran on.
type machine struct {
	Cores    int    `json:"cores"`
	CPU      string `json:"cpu"`
	MemoryMB int64  `json:"memoryMB"`
	Kernel   string `json:"kernel"`
	// BackgroundBusyCores is how many cores something else kept busy just
	// before the bench started its processes: more than a few hundredths
	// means the figures are disturbed.
	BackgroundBusyCores float64 `json:"backgroundBusyCores"`
}

// row is one line of the table.
type row struct {
	Scenario string `json:"scenario"`
	Figure   string `json:"figure"`
	Value    string `json:"value"`
	Target   string `json:"target,omitempty"`
	Met      *bool  `json:"met,omitempty"`
}

func newReport() *report {
	return &report{
		Date:     time.Now().UTC().Format(time.RFC3339),
		Versions: map[string]string{},
		Settings: map[string]string{},
		Figures:  map[string]any{},
		Errors:   map[string]string{},
		Missed:   []string{},
	}
}

// add appends a row without a target.
func (r *report) add(scenario, figure, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, row{Scenario: scenario, Figure: figure, Value: value})
}

// check appends a row with a target and whether it was met.
func (r *report) check(scenario, figure, value, target string, met bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, row{Scenario: scenario, Figure: figure, Value: value, Target: target, Met: &met})
	if !met {
		r.Missed = append(r.Missed, scenario+": "+figure)
	}
}

// figure records the numbers of a scenario under key.
func (r *report) figure(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Figures[key] = v
}

// fail records that scenario could not finish.
func (r *report) fail(scenario string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Errors[scenario] = err.Error()
	r.Rows = append(r.Rows, row{Scenario: scenario, Figure: "error", Value: strings.ReplaceAll(err.Error(), "|", "/")})
}

// markdown renders the table, ordered by scenario.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "clusters-apiserver bench, %s, commit %s%s\n", r.Date, short(r.Commit), map[bool]string{true: " (dirty)"}[r.Dirty])
	fmt.Fprintf(&b, "%d cores (%s), %d MB, Linux %s; %s; kube-apiserver %s; wall time %.0f s; background load %.2f cores\n\n",
		r.Machine.Cores, r.Machine.CPU, r.Machine.MemoryMB, r.Machine.Kernel, r.Versions["go"], r.Versions["kube-apiserver"], r.WallSeconds, r.Machine.BackgroundBusyCores)
	if args := r.Settings["serverArgs"]; args != "" {
		fmt.Fprintf(&b, "Every clusters-apiserver ran with the extra flags %s.\n\n", args)
	}
	if env := r.Settings["serverEnv"]; env != "" {
		fmt.Fprintf(&b, "The servers of scenarios that start their own ran with %s in their environment.\n\n", env)
	}
	b.WriteString("| # | figure | value | target | met |\n|---|---|---|---|---|\n")
	rows := append([]row(nil), r.Rows...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Scenario < rows[j].Scenario })
	for _, x := range rows {
		met := ""
		if x.Met != nil {
			met = map[bool]string{true: "yes", false: "**NO**"}[*x.Met]
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", x.Scenario, x.Figure, x.Value, x.Target, met)
	}
	return b.String()
}

// write writes the report as JSON to path.
func (r *report) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// describe records the machine, the versions and the settings of the run.
func (r *report) describe(ctx context.Context, b *bench) {
	r.Machine.Cores, r.Machine.CPU, r.Machine.MemoryMB = runtime.NumCPU(), cpuModel(), memTotalMB()
	r.Machine.Kernel = firstLine(readFile("/proc/sys/kernel/osrelease"))
	r.Commit = firstLine(command("git", "rev-parse", "HEAD"))
	r.Dirty = command("git", "status", "--porcelain", "--untracked-files=no") != ""
	r.Versions["go"] = runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "k8s.io/apiserver", "k8s.io/client-go", "k8s.io/kube-aggregator", "sigs.k8s.io/cluster-inventory-api":
				r.Versions[dep.Path] = dep.Version
			}
		}
	}
	for _, mod := range []string{"k8s.io/apiserver", "k8s.io/client-go"} {
		if r.Versions[mod] == "" {
			r.Versions[mod] = command("go", "list", "-m", "-f", "{{.Version}}", mod)
		}
	}
	r.Versions["clusters-apiserver"] = firstLine(command(b.serverBinary, "--version"))
	r.Versions["etcd"] = firstLine(command(filepath.Join(b.env.BinDir, "etcd"), "--version"))
	var kubectl struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
	}
	if json.Unmarshal([]byte(command(filepath.Join(b.env.BinDir, "kubectl"), "version", "--client", "-o", "json")), &kubectl) == nil {
		r.Versions["kubectl"] = kubectl.ClientVersion.GitVersion
	}
	if kube, err := memberKube(b.env); err == nil {
		if v, err := kube.Discovery().ServerVersion(); err == nil {
			r.Versions["kube-apiserver"] = v.GitVersion
		}
	}
	r.Settings["duration"] = b.opts.duration.String()
	r.Settings["warmup"] = b.opts.warmup.String()
	r.Settings["scale"] = fmt.Sprint(b.opts.scale)
	r.Settings["scaleTarget"] = b.opts.scaleTarget
	r.Settings["serverBinary"] = b.serverBinary
	if b.opts.serverEnv != "" {
		r.Settings["serverEnv"] = b.opts.serverEnv
	}
	if b.opts.serverArgs != "" {
		r.Settings["serverArgs"] = b.opts.serverArgs
	}
}

func cpuModel() string {
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return runtime.GOARCH
}

func memTotalMB() int64 {
	for _, line := range strings.Split(readFile("/proc/meminfo"), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 0
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func command(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
