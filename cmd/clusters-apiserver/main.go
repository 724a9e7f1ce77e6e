// Command clusters-apiserver is a Kubernetes aggregated API server that
// serves the member clusters of a fleet as clusters.headlamp.dev/v1alpha1
// Cluster objects.
package main

import (
	"os"

	"k8s.io/component-base/cli"

	"github.com/headlamp-k8s/clusters-apiserver/cmd/clusters-apiserver/app"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/execwrap"
)

func main() {
	// The server runs exec credential plugins through itself to bound
	// their run time (see pkg/execwrap).
	if len(os.Args) > 1 && os.Args[1] == execwrap.Command {
		os.Exit(execwrap.Main(os.Args[2:]))
	}
	os.Exit(cli.Run(app.NewCommand()))
}
