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
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// serverMetrics reads gauges from clusters-apiserver's /metrics, past the
// hub, and returns the value of each name asked for (summed over labels).
func (b *bench) serverMetrics(ctx context.Context, names ...string) (map[string]float64, error) {
	client := httpClient(b.clients.server)
	defer client.CloseIdleConnections()
	body, err := getBody(ctx, client, b.clients.viaServer("/metrics"), nil)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		for _, want := range names {
			if name == want {
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err != nil {
					return nil, fmt.Errorf("metrics line %q: %w", line, err)
				}
				out[name] += v
			}
		}
	}
	return out, nil
}

// goroutines returns clusters-apiserver's go_goroutines.
func (b *bench) goroutines(ctx context.Context) (int, error) {
	m, err := b.serverMetrics(ctx, "go_goroutines")
	if err != nil {
		return 0, err
	}
	return int(m["go_goroutines"]), nil
}

// profile records a CPU profile of clusters-apiserver for d into
// -profile-dir/name.pprof, when -profile-dir is set. It returns at once;
// wait for the returned channel.
func (b *bench) profile(ctx context.Context, name string, d time.Duration) <-chan struct{} {
	return b.record(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), name+".pprof")
}

// trace records an execution trace of clusters-apiserver for d into
// -profile-dir/name.trace (for go tool trace), when -profile-dir is set,
// as profile does.
func (b *bench) trace(ctx context.Context, name string, d time.Duration) <-chan struct{} {
	return b.record(ctx, fmt.Sprintf("/debug/pprof/trace?seconds=%d", int(d.Seconds())), name+".trace")
}

// record saves what clusters-apiserver answers to a GET of path into
// -profile-dir/file, when -profile-dir is set, in the background.
func (b *bench) record(ctx context.Context, path, file string) <-chan struct{} {
	done := make(chan struct{})
	if b.opts.profileDir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		client := httpClient(b.clients.server)
		defer client.CloseIdleConnections()
		body, err := getBody(ctx, client, b.clients.viaServer(path), nil)
		if err != nil {
			b.logf("recording %s: %v", file, err)
			return
		}
		if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
			b.logf("recording %s: %v", file, err)
			return
		}
		if err := os.WriteFile(filepath.Join(b.opts.profileDir, file), body, 0o644); err != nil {
			b.logf("recording %s: %v", file, err)
		}
	}()
	return done
}

// snapshot saves clusters-apiserver's /debug/pprof/KIND (heap, after a
// collection, goroutine, ...) into -profile-dir/name.pprof, when
// -profile-dir is set.
func (b *bench) snapshot(ctx context.Context, name, kind string) {
	if b.opts.profileDir == "" {
		return
	}
	client := httpClient(b.clients.server)
	defer client.CloseIdleConnections()
	path := "/debug/pprof/" + kind
	if kind == "heap" {
		path += "?gc=1" // what is live, not what the last collection left
	}
	body, err := getBody(ctx, client, b.clients.viaServer(path), nil)
	if err == nil {
		err = os.MkdirAll(b.opts.profileDir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(b.opts.profileDir, name+".pprof"), body, 0o644)
	}
	if err != nil {
		b.logf("saving %s of clusters-apiserver: %v", kind, err)
	}
}

// withHeader returns h with more headers set.
func withHeader(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
