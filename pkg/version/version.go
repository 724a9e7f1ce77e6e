// Package version holds the version of clusters-apiserver, set at build time
// with -ldflags "-X github.com/headlamp-k8s/clusters-apiserver/pkg/version.Version=...".
package version

// Version is the version of this build.
var Version = "v0.0.0-dev"
