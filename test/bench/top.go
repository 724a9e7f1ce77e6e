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
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// topFunctions profiles clusters-apiserver's CPU for d and returns its ten
// functions with the most samples of their own, as go tool pprof -top
// lists them; or why it could not.
func (b *bench) topFunctions(ctx context.Context, d time.Duration) <-chan string {
	out := make(chan string, 1)
	go func() {
		client := httpClient(b.clients.server)
		defer client.CloseIdleConnections()
		secs := max(int(d.Seconds()), 1)
		body, err := getBody(ctx, client, b.clients.viaServer(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs)), nil)
		if err != nil {
			out <- "no profile: " + err.Error()
			return
		}
		out <- top(body, 10)
	}()
	return out
}

// top summarizes a CPU profile: its n leaf functions with the most samples.
func top(data []byte, n int) string {
	p, err := profile.Parse(bytes.NewReader(data))
	if err != nil {
		return "no profile: " + err.Error()
	}
	cpu := len(p.SampleType) - 1 // cpu nanoseconds, after samples
	flat := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[cpu]
		total += v
		if len(s.Location) == 0 || len(s.Location[0].Line) == 0 {
			flat["?"] += v
			continue
		}
		flat[s.Location[0].Line[0].Function.Name] += v
	}
	if total == 0 {
		return "no samples"
	}
	names := make([]string, 0, len(flat))
	for name := range flat {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(flat[b], flat[a]) })
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		short := name[strings.LastIndex(name, "/")+1:]
		parts = append(parts, fmt.Sprintf("%s %.0f%%", short, 100*float64(flat[name])/float64(total)))
	}
	return fmt.Sprintf("%d ms of samples: %s", total/1e6, strings.Join(parts, ", "))
}
