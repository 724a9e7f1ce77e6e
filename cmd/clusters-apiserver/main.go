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

// Command clusters-apiserver is a Kubernetes aggregated API server that
// serves the member clusters of a fleet as clusters.headlamp.dev/v1alpha1
// Cluster objects.
package main

import (
	"os"
	"runtime/debug"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/headlamp-k8s/clusters-apiserver/cmd/clusters-apiserver/app"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// defaultGCPercent is the Go collector's target when GOGC is not set: the
// heap grows by three quarters of its live size between two collections,
// not by all of it. Most of this server's heap lives as long as the fleet
// does (with 10,000 kubeconfig contexts, 53 MB at rest and 70 to 80 MB
// while lists are kept: credentials, published objects, kept encodings)
// while its garbage is per request and per health check, so at Go's
// default of 100 the heap reaches twice that before each collection. The
// collector runs a third more often, over a heap that is mostly the same
// long-lived objects. Prometheus, whose heap is of the same kind, ships
// the same default (75 since v2.53). docs/benchmarks.md has the figures
// of both trades. GOGC in the environment wins, and GOMEMLIMIT still
// applies.
const defaultGCPercent = 75

// setGCPercent sets the collector's target to defaultGCPercent unless
// GOGC is set; lookup is os.LookupEnv.
func setGCPercent(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func main() {
	setGCPercent(os.LookupEnv)
	cmd := app.NewCommand()
	// SIGTERM and SIGINT shut the server down gracefully (a second one
	// exits at once): watches end cleanly, so that their clients resume
	// on another replica instead of listing again.
	cmd.SetContext(genericapiserver.SetupSignalContext())
	code := cli.Run(cmd)
	// What credential plugins still running have started would outlive
	// the server (the plugins themselves die with it).
	member.StopPlugins()
	os.Exit(code)
}
