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

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/headlamp-k8s/clusters-apiserver/cmd/clusters-apiserver/app"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

func main() {
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
