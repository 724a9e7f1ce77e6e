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
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// stats summarizes the measured requests of a load point. Percentiles come
// from the raw samples (nearest rank), never from histogram buckets.
type stats struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"requestsPerSecond"`
	// BytesPerSecond is the body bytes read per second.
	BytesPerSecond float64 `json:"bytesPerSecond"`
	MeanMs         float64 `json:"meanMs"`
	P50Ms          float64 `json:"p50Ms"`
	P90Ms          float64 `json:"p90Ms"`
	P99Ms          float64 `json:"p99Ms"`
	MaxMs          float64 `json:"maxMs"`
	// CPUMsPerRequest is the CPU time each process used per request while
	// measuring, when it was measured.
	CPUMsPerRequest map[string]float64 `json:"cpuMsPerRequest,omitempty"`
}

func summarize(samples []sample, errCount int) stats {
	st := stats{Requests: len(samples), Errors: errCount}
	if len(samples) == 0 {
		return st
	}
	first, last := samples[0].start, samples[0].end
	lat := make([]time.Duration, len(samples))
	var sum time.Duration
	var bytes int64
	for i, s := range samples {
		lat[i] = s.end.Sub(s.start)
		sum += lat[i]
		bytes += s.bytes
		if s.start.Before(first) {
			first = s.start
		}
		if s.end.After(last) {
			last = s.end
		}
	}
	st.Seconds = last.Sub(first).Seconds()
	if st.Seconds > 0 {
		st.RPS = float64(len(samples)) / st.Seconds
		st.BytesPerSecond = float64(bytes) / st.Seconds
	}
	slices.Sort(lat)
	st.MeanMs = ms(sum / time.Duration(len(lat)))
	st.P50Ms = ms(percentile(lat, 0.50))
	st.P90Ms = ms(percentile(lat, 0.90))
	st.P99Ms = ms(percentile(lat, 0.99))
	st.MaxMs = ms(lat[len(lat)-1])
	return st
}

// percentile returns the nearest-rank percentile p (0..1] of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// durations summarizes plain durations, such as event delivery times.
type durations struct {
	N     int     `json:"n"`
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

func summarizeDurations(d []time.Duration) durations {
	s := slices.Clone(d)
	slices.Sort(s)
	out := durations{N: len(s)}
	if len(s) > 0 {
		out.P50Ms, out.P99Ms, out.MaxMs = ms(percentile(s, 0.5)), ms(percentile(s, 0.99)), ms(s[len(s)-1])
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMs formats milliseconds with three significant digits.
func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func fmtRatio(v float64) string { return fmt.Sprintf("%.2fx", v) }

func fmtMB(bytes float64) string { return fmt.Sprintf("%.1f MB", bytes/1e6) }

func fmtMiB(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// fmtCPU formats CPU milliseconds per request by process, largest first.
func fmtCPU(cpu map[string]float64) string {
	if len(cpu) == 0 {
		return "n/a"
	}
	var names []string
	for name := range cpu {
		if name != "total" && name != "busyCores" && cpu[name] >= 0.005 {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(cpu[b], cpu[a]) })
	out := fmt.Sprintf("%.2f", cpu["total"])
	var parts []string
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, cpu[name]))
	}
	return out + " (" + strings.Join(parts, ", ") + ")"
}
