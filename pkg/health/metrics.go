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

package health

import (
	"sync"

	compmetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	// checks counts health checks; no label per cluster, so 10,000
	// members cost one series.
	checks = compmetrics.NewCounter(&compmetrics.CounterOpts{
		Subsystem: "clusters", Name: "health_checks_total",
		Help:           "Health checks of member clusters made by this replica. With several replicas only the leader checks.",
		StabilityLevel: compmetrics.ALPHA,
	})
	registerOnce sync.Once
)

// RegisterMetrics registers the health checks' metrics.
func RegisterMetrics() {
	registerOnce.Do(func() { legacyregistry.MustRegister(checks) })
}
