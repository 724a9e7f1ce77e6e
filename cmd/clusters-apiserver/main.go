// Command clusters-apiserver is a Kubernetes aggregated API server that
// serves the member clusters of a fleet as clusters.headlamp.dev/v1alpha1
// Cluster objects.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"github.com/headlamp-k8s/clusters-apiserver/cmd/clusters-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewCommand()))
}
