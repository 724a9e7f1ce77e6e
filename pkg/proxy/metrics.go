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
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/felixge/httpsnoop"
	compmetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// proxyMetrics are the proxy's Prometheus metrics. No label carries a path or
// a user name: cardinality is bounded by the number of clusters.
type proxyMetrics struct {
	requests  *compmetrics.CounterVec
	duration  *compmetrics.HistogramVec
	inflight  *compmetrics.GaugeVec
	upgraded  *compmetrics.GaugeVec
	transport *compmetrics.CounterVec
	rejected  *compmetrics.CounterVec

	// mu guards series: the label values of every series of each cluster,
	// so that a cluster's series go with it (see forget).
	mu     sync.Mutex
	series map[string]*clusterSeries
}

// clusterSeries are the label values one cluster has series for.
type clusterSeries struct {
	requests  map[[2]string]bool // verb class, code
	durations map[string]bool    // verb class
	transport bool
}

var defaultMetrics = newProxyMetrics()

func newProxyMetrics() *proxyMetrics {
	return &proxyMetrics{
		requests: compmetrics.NewCounterVec(&compmetrics.CounterOpts{
			Subsystem: "clusters_proxy", Name: "requests_total",
			Help:           "Requests proxied to member clusters, by cluster, verb class (read, write, watch, upgrade) and HTTP status code.",
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"cluster", "verb_class", "code"}),
		duration: compmetrics.NewHistogramVec(&compmetrics.HistogramOpts{
			Subsystem: "clusters_proxy", Name: "request_duration_seconds",
			Help:           "Time from receiving a proxied request to the end of its response, by cluster and verb class.",
			Buckets:        []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"cluster", "verb_class"}),
		inflight: compmetrics.NewGaugeVec(&compmetrics.GaugeOpts{
			Subsystem: "clusters_proxy", Name: "inflight_requests",
			Help:           "Proxied requests in flight, by cluster.",
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"cluster"}),
		upgraded: compmetrics.NewGaugeVec(&compmetrics.GaugeOpts{
			Subsystem: "clusters_proxy", Name: "upgraded_streams",
			Help:           "Open upgraded (SPDY or WebSocket) streams, by cluster.",
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"cluster"}),
		transport: compmetrics.NewCounterVec(&compmetrics.CounterOpts{
			Subsystem: "clusters_proxy", Name: "transport_builds_total",
			Help:           "Transports built for member clusters; one per access configuration.",
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"cluster"}),
		rejected: compmetrics.NewCounterVec(&compmetrics.CounterOpts{
			Subsystem: "clusters_proxy", Name: "rejected_requests_total",
			Help:           "Proxied requests refused with 429 because a limit was reached, by limit (requests-per-user, requests-per-cluster, requests, streams-per-user).",
			StabilityLevel: compmetrics.ALPHA,
		}, []string{"limit"}),
		series: map[string]*clusterSeries{},
	}
}

var registerOnce sync.Once

// RegisterMetrics registers the proxy's metrics with the server's registry.
func RegisterMetrics() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(defaultMetrics.requests, defaultMetrics.duration,
			defaultMetrics.inflight, defaultMetrics.upgraded, defaultMetrics.transport, defaultMetrics.rejected)
	})
}

// TransportBuilt counts a transport built for cluster.
func TransportBuilt(cluster string) { defaultMetrics.built(cluster) }

func (m *proxyMetrics) built(cluster string) {
	m.transport.WithLabelValues(cluster).Inc()
	// Noted once the request ends, with its gauges: a cluster's first
	// request still in flight when the cluster goes keeps its series until
	// the next cleanup, one lock per request instead of two.
	m.note(cluster, func(s *clusterSeries) { s.transport = true })
}

// note records, with record, which series cluster has.
func (m *proxyMetrics) note(cluster string, record func(*clusterSeries)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.series[cluster]
	if !ok {
		s = &clusterSeries{requests: map[[2]string]bool{}, durations: map[string]bool{}}
		m.series[cluster] = s
	}
	record(s)
}

// ForgetClusters deletes the series of every cluster for which keep
// returns false, so that a fleet whose clusters come and go keeps series
// only for the clusters it has. A request still in flight for such a
// cluster is counted in series that are no longer exported.
func ForgetClusters(keep func(cluster string) bool) { defaultMetrics.forget(keep) }

func (m *proxyMetrics) forget(keep func(cluster string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for cluster, s := range m.series {
		if keep(cluster) {
			continue
		}
		for k := range s.requests {
			m.requests.Delete(map[string]string{"cluster": cluster, "verb_class": k[0], "code": k[1]})
		}
		for verb := range s.durations {
			m.duration.Delete(map[string]string{"cluster": cluster, "verb_class": verb})
		}
		m.inflight.Delete(map[string]string{"cluster": cluster})
		m.upgraded.Delete(map[string]string{"cluster": cluster})
		if s.transport {
			m.transport.Delete(map[string]string{"cluster": cluster})
		}
		delete(m.series, cluster)
	}
}

// FollowClusters deletes the series of each cluster that leaves inv, until
// ctx is done: at each change, and every minute for the series that
// requests ending after their cluster left (streams the removal ended)
// wrote again.
func FollowClusters(ctx context.Context, inv *inventory.Inventory) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		changed := inv.AccessChanged()
		ForgetClusters(func(cluster string) bool { _, ok := inv.Access(cluster); return ok })
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// serve runs h and records the request. The wrapped writer keeps
// http.Flusher and http.Hijacker, which streaming and upgrades need.
func (m *proxyMetrics) serve(cluster, verbClass string, w http.ResponseWriter, req *http.Request, h http.Handler) {
	start := time.Now()
	inflight := m.inflight.WithLabelValues(cluster)
	inflight.Inc()
	defer inflight.Dec()

	code := 0
	hijacked := false
	upgraded := m.upgraded.WithLabelValues(cluster)
	wrapped := httpsnoop.Wrap(w, httpsnoop.Hooks{
		WriteHeader: func(next httpsnoop.WriteHeaderFunc) httpsnoop.WriteHeaderFunc {
			return func(c int) {
				if code == 0 {
					code = c
				}
				next(c)
			}
		},
		Write: func(next httpsnoop.WriteFunc) httpsnoop.WriteFunc {
			return func(b []byte) (int, error) {
				if code == 0 {
					code = http.StatusOK
				}
				return next(b)
			}
		},
		Hijack: func(next httpsnoop.HijackFunc) httpsnoop.HijackFunc {
			return func() (net.Conn, *bufio.ReadWriter, error) {
				conn, rw, err := next()
				if err == nil && !hijacked {
					hijacked = true
					upgraded.Inc()
				}
				return conn, rw, err
			}
		},
	})
	h.ServeHTTP(wrapped, req)
	if hijacked {
		upgraded.Dec()
		if code == 0 {
			code = http.StatusSwitchingProtocols
		}
	}
	m.requests.WithLabelValues(cluster, verbClass, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(cluster, verbClass).Observe(time.Since(start).Seconds())
	// Noted once the request ends, with its gauges: a cluster's first
	// request still in flight when the cluster goes keeps its series until
	// the next cleanup, one lock per request instead of two.
	m.note(cluster, func(s *clusterSeries) {
		s.requests[[2]string{verbClass, strconv.Itoa(code)}] = true
		s.durations[verbClass] = true
	})
}
