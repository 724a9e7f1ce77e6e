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

package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	compmetrics "k8s.io/component-base/metrics"
)

// TestMetricsForgetRemovedClusters: the series of a cluster that left the
// inventory are deleted, those of the others stay.
func TestMetricsForgetRemovedClusters(t *testing.T) {
	t.Parallel()
	m := newProxyMetrics()
	reg := compmetrics.NewKubeRegistry()
	reg.MustRegister(m.requests, m.duration, m.inflight, m.upgraded, m.transport)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, cluster := range []string{"kept", "gone"} {
		m.built(cluster)
		for _, verb := range []string{"read", "write"} {
			m.serve(cluster, verb, httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", http.NoBody), ok)
		}
	}
	series := func() map[string]int {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, f := range families {
			for _, metric := range f.GetMetric() {
				for _, l := range metric.GetLabel() {
					if l.GetName() == "cluster" {
						out[l.GetValue()]++
					}
				}
			}
		}
		return out
	}
	before := series()
	if before["gone"] == 0 || before["gone"] != before["kept"] {
		t.Fatalf("series before: %v; want as many for each cluster", before)
	}
	m.forget(func(cluster string) bool { return cluster == "kept" })
	after := series()
	if after["gone"] != 0 || after["kept"] != before["kept"] {
		t.Errorf("series after forgetting gone: %v; want none of gone and %d of kept", after, before["kept"])
	}
	if len(m.series) != 1 {
		t.Errorf("%d clusters tracked, want 1", len(m.series))
	}
}
