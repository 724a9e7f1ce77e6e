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

// Command bench measures clusters-apiserver against a real hub and real
// member kube-apiservers on 127.0.0.1 (started by test/harness): proxy
// latency and throughput next to direct access, large responses, watches,
// connection reuse, an inventory of 10,000 clusters and credential plugin
// runs. It prints a markdown table and writes every figure, with the
// machine and the versions used, to a JSON file, so that runs can be
// compared. `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// options are the command-line flags.
type options struct {
	out          string
	serverBinary string
	pluginBinary string
	only         string
	duration     time.Duration
	warmup       time.Duration
	scale        int
	scaleTarget  string
	profileDir   string
	keep         bool
	// serverEnv is added to the environment of the servers a scenario
	// starts of its own (scenario 5's, say), not to the registered one's.
	serverEnv string
	// serverArgs are added to the flags of every clusters-apiserver the
	// bench starts, the registered one's included.
	serverArgs string
}

// extraServerArgs are the flags of -server-args.
func (o *options) extraServerArgs() []string {
	if o.serverArgs == "" {
		return nil
	}
	return strings.Split(o.serverArgs, ",")
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	flag.StringVar(&o.out, "out", "_output/bench/results.json", "JSON file to write every figure to")
	flag.StringVar(&o.serverBinary, "server-binary", "", "clusters-apiserver binary to measure; empty builds ./cmd/clusters-apiserver")
	flag.StringVar(&o.pluginBinary, "plugin-binary", "", "kubectl-clusters binary for scenario 9; empty builds ./cmd/kubectl-clusters")
	flag.StringVar(&o.only, "only", "", "comma-separated scenarios to run (1-9); empty runs all")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured time of each load point of scenario 1")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured time before each load point")
	flag.IntVar(&o.scale, "scale", 10000, "clusters in scenario 5 (kubeconfig contexts, and ClusterProfiles)")
	flag.StringVar(&o.scaleTarget, "scale-target", "all", "scenario 5's kubeconfig sources: member (one file, contexts → member-1, with its credentials: every health check keeps a connection), closed (one file, contexts → a loopback port nothing listens on: health checks fail at once), dir (a directory of 100 files, contexts → member-1), both (member and closed) or all, one after the other")
	flag.StringVar(&o.profileDir, "profile-dir", "", "if set, save clusters-apiserver CPU profiles of selected load points, and scenario 7's heap profiles, there")
	flag.StringVar(&o.serverEnv, "server-env", "", "comma-separated NAME=VALUE pairs added to the environment of the servers a scenario starts of its own (scenario 5's), e.g. GOMEMLIMIT=170MiB; the report names them")
	flag.StringVar(&o.serverArgs, "server-args", "", "comma-separated flags added to every clusters-apiserver the bench starts, e.g. --disable-http2-serving; the report names them")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, kubeconfigs) after the run")
	flag.Parse()
	// The bench works from the repository root; paths given are relative
	// to where it was started.
	for _, path := range []*string{&o.out, &o.serverBinary, &o.pluginBinary, &o.profileDir} {
		if *path != "" {
			abs, err := filepath.Abs(*path)
			if err != nil {
				return err
			}
			*path = abs
		}
	}
	if !slices.Contains([]string{"member", "closed", "dir", "both", "all"}, o.scaleTarget) {
		return fmt.Errorf("-scale-target must be member, closed, dir, both or all, not %q", o.scaleTarget)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench %6.1fs: "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
	}

	b, err := setUp(ctx, o, logf)
	if b != nil {
		defer b.tearDown()
	}
	if err != nil {
		return err
	}
	scenarios := []struct {
		id  string
		run func(context.Context) error
	}{
		// 4 runs before 3, whose 1,000 watches leave connections to
		// member-1 idle in the pool for 90 s; 6 runs before 5, which
		// replaces the server and loads the hub.
		{"1", b.smallRequests},
		{"2", b.largeResponse},
		{"4", b.connections},
		{"3", b.watches},
		{"9", b.fleetGet},
		{"6", b.execPlugin},
		{"5", b.inventoryScale},
		{"7", b.churn},
		{"8", b.haScale},
	}
	for _, s := range scenarios {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.id) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		logf("scenario %s", s.id)
		if err := s.run(ctx); err != nil {
			b.report.fail(s.id, err)
			logf("scenario %s failed: %v", s.id, err)
		}
	}
	b.report.WallSeconds = time.Since(started).Seconds()
	fmt.Print(b.report.markdown())
	if err := b.report.write(o.out); err != nil {
		return err
	}
	logf("wrote %s", o.out)
	if n := len(b.report.Errors); n > 0 {
		return fmt.Errorf("%d scenarios could not finish", n)
	}
	return nil
}

// bench is one run: the environment, the clients that reach it and the
// report being filled.
type bench struct {
	opts   options
	logf   func(format string, args ...any)
	env    *harness.Env
	work   string // bench's own files: kubeconfigs, scripts, profiles
	report *report

	clients *clients
	// execSource is a kubeconfig source the server reads from the start,
	// empty until scenario 6 writes its exec-plugin context.
	execSource string
	// fleetSource is a kubeconfig source the server reads from the start,
	// empty but while scenario 9 runs.
	fleetSource string
	// serverPort and memberPort are the ports of clusters-apiserver and
	// member-1 on 127.0.0.1.
	serverPort, memberPort int
	serverBinary           string
}
