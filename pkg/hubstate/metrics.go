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

package hubstate

import (
	"sync"

	compmetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	// leaderGauge is 1 on the replica that leads, 0 on the others.
	leaderGauge = compmetrics.NewGauge(&compmetrics.GaugeOpts{
		Subsystem: "clusters", Name: "leader",
		Help:           "1 while this replica is the leader, which checks the members' health and publishes ClusterStates; 0 otherwise.",
		StabilityLevel: compmetrics.ALPHA,
	})
	// writes counts the leader's writes to ClusterStates.
	writes = compmetrics.NewCounterVec(&compmetrics.CounterOpts{
		Subsystem: "clusters", Name: "clusterstate_writes_total",
		Help:           "Writes of ClusterStates to the hub by this replica, by verb (create, update, delete) and result (ok, error).",
		StabilityLevel: compmetrics.ALPHA,
	}, []string{"verb", "result"})
	registerOnce sync.Once
)

// RegisterMetrics registers the metrics of shared state.
func RegisterMetrics() {
	registerOnce.Do(func() { legacyregistry.MustRegister(leaderGauge, writes) })
}

// SetLeader records whether this replica leads.
func SetLeader(leading bool) {
	if leading {
		leaderGauge.Set(1)
	} else {
		leaderGauge.Set(0)
	}
}

// wrote counts one write.
func wrote(verb string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	writes.WithLabelValues(verb, result).Inc()
}
