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

package e2e

import (
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads clusters-apiserver's own /metrics, past the hub, as the hub
// admin, and returns the samples whose names start with prefix.
func scrape(t *testing.T, prefix string) []sample {
	t.Helper()
	resp := send(t, serverTLS(t), http.MethodGet, env.ServerURL+"/metrics", nil, "")
	if resp.code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.code, resp.body)
	}
	var out []sample
	for _, line := range strings.Split(string(resp.body), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if len(m) < 4 || !strings.HasPrefix(m[1], prefix) {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

// metricValue sums the samples of name whose labels include want; ok is
// false when there are none.
func metricValue(samples []sample, name string, want map[string]string) (sum float64, ok bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		sum, ok = sum+s.value, true
	}
	return sum, ok
}

// TestProxyMetrics checks the proxy's metrics on clusters-apiserver's
// /metrics: every family is there, labels say which cluster, which kind of
// verb and which code and nothing else (no path, no user), in-flight
// requests and upgraded streams go back to zero.
func TestProxyMetrics(t *testing.T) {
	rec := startRecorder(t)
	admin := hubTLS(t, env.HubKubeconfig)
	for _, path := range []string{"/api/v1/namespaces/default", "/api/v1/namespaces/e2e-no-such-namespace"} {
		send(t, admin, http.MethodGet, env.HubURL+harness.ProxyPath("member-1", path), nil, "")
	}

	// An upgraded stream counts while it is open.
	resp, conn, br := dialUpgrade(t, admin, env.HubURL+harness.ProxyPath(recorderCluster, "/metrics-stream"), upgrades()[0].header)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	echoRoundTrip(t, conn, br)
	streams := func(want float64) func() (bool, string) {
		return func() (bool, string) {
			v, _ := metricValue(scrape(t, "clusters_proxy_"), "clusters_proxy_upgraded_streams", map[string]string{"cluster": recorderCluster})
			return v == want, strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	harness.Eventually(t, 10*time.Second, "clusters_proxy_upgraded_streams counts the open stream", streams(1))
	conn.Close()
	harness.Eventually(t, 10*time.Second, "clusters_proxy_upgraded_streams goes back to 0", streams(0))
	if len(rec.requests("/metrics-stream")) != 1 {
		t.Errorf("the upgrade did not reach the recorder")
	}

	samples := scrape(t, "clusters_proxy_")
	families := []struct {
		name    string
		cluster string   // a cluster it must have a sample for
		labels  []string // its label names; nil: not checked
	}{
		{"clusters_proxy_requests_total", "member-1", []string{"cluster", "code", "verb_class"}},
		{"clusters_proxy_request_duration_seconds_count", "member-1", nil},
		{"clusters_proxy_inflight_requests", "member-1", []string{"cluster"}},
		{"clusters_proxy_upgraded_streams", recorderCluster, []string{"cluster"}},
		{"clusters_proxy_transport_builds_total", "member-1", []string{"cluster"}},
	}
	for _, f := range families {
		if _, ok := metricValue(samples, f.name, map[string]string{"cluster": f.cluster}); !ok {
			t.Errorf("no %s sample for cluster %s", f.name, f.cluster)
		}
		for _, s := range samples {
			if s.name != f.name || f.labels == nil {
				continue
			}
			if diff := cmp.Diff(f.labels, labelNames(s)); diff != "" {
				t.Errorf("labels of %s (-want +got):\n%s", f.name, diff)
				break
			}
		}
	}
	if _, ok := metricValue(samples, "clusters_proxy_requests_total", map[string]string{"cluster": "member-1", "code": "200"}); !ok {
		t.Error("no clusters_proxy_requests_total for member-1 with code 200")
	}
	if v, _ := metricValue(samples, "clusters_proxy_inflight_requests", map[string]string{"cluster": "member-1"}); v != 0 {
		t.Errorf("clusters_proxy_inflight_requests{cluster=member-1} = %v once idle, want 0", v)
	}
	// Only these labels, and no value that is a path or a user.
	allowed := map[string]bool{"cluster": true, "code": true, "verb_class": true, "le": true}
	for _, s := range samples {
		for k, v := range s.labels {
			if !allowed[k] || strings.Contains(v, "/") || v == "admin" {
				t.Errorf("%s has label %s=%q", s.name, k, v)
			}
		}
	}
}

// labelNames returns the sorted label names of s.
func labelNames(s sample) []string {
	names := make([]string, 0, len(s.labels))
	for k := range s.labels {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// TestGCPercent checks that the server, started as an operator starts it,
// runs with its own collector target (cmd/clusters-apiserver's
// defaultGCPercent, 75) when GOGC is not set, as the Go runtime reports it.
func TestGCPercent(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set, and the server inherits it")
	}
	v, ok := metricValue(scrape(t, "go_gc_gogc_percent"), "go_gc_gogc_percent", nil)
	if !ok || v != 75 {
		t.Errorf("go_gc_gogc_percent = %v (found: %v), want 75", v, ok)
	}
}
