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

package inventory

import (
	"errors"

	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// Member is one member cluster as a source reports it.
type Member struct {
	// Name is the object name the source proposes; it must be a valid
	// DNS-1123 subdomain (see ObjectName). When two members propose the same
	// name, the inventory gives the bare name to the one with the lowest
	// (Priority, Origin) and a hashed suffix to the others.
	Name string
	// Origin identifies the member uniquely across all sources and restarts,
	// for example "kubeconfig:/etc/clusters/a.yaml:prod". It decides who keeps
	// a contested name and seeds the object's UID.
	Origin string
	// Priority orders sources when names collide; lower wins.
	Priority int
	// Order orders members of equal Priority when names collide; lower
	// wins. Empty means Origin.
	Order string
	// Cluster is the public view of the member: labels, spec and the status
	// the source knows (properties, version, extra conditions). The inventory
	// sets the name, UID, resourceVersion and creation time, and owns the
	// Ready condition. Once handed to Replace, neither it nor anything it
	// points to (maps, slices, pointers) may be written: every version
	// the inventory publishes from it shares them. A change is a new
	// object.
	Cluster *clusters.Cluster
	// Access is how the proxy reaches the member. It is never exposed.
	Access Access
}

// Access is a member's access configuration. It never leaves the server.
type Access struct {
	// Config is the client configuration for the member's API server, with
	// its credentials. Nil when Err is set, or when Build is.
	Config *rest.Config
	// Build, in place of Config, builds the client configuration when a
	// transport is built: for a source that keeps what it is built from
	// anyway (a kubeconfig file's entries), rather than a rest.Config of
	// about 600 bytes for each of 10,000 members. Each call returns a new
	// configuration, which the caller may not write into either; it is
	// safe for concurrent use.
	Build func() (*rest.Config, error)
	// Host is the member's server URL, as Build's configurations have it;
	// unused with Config, whose Host it is.
	Host string
	// Hash changes exactly when the access configuration changes, so that
	// cached transports can be rebuilt only then. It is not a credential
	// but must not be exposed either.
	Hash string
	// Impersonate is true when the proxy forwards requests as the hub user
	// (impersonation headers on top of Config's credential), false when it
	// forwards with Config's credential alone. Only the server's flags set
	// it, never an object a hub user can write.
	Impersonate bool
	// Via describes, without credentials, how the member is reached, for
	// messages about failures: for example `access provider "secretreader"
	// (plugin secretreader-plugin)`.
	Via string
	// Err says why the member cannot be reached with this configuration; it
	// surfaces as Ready=False. Its message must not contain a credential.
	Err *AccessError
}

// Configured tells whether a has a client configuration: Config or Build.
func (a *Access) Configured() bool { return a.Config != nil || a.Build != nil }

// RestConfig returns a's client configuration: Config, or one Build builds.
func (a *Access) RestConfig() (*rest.Config, error) {
	switch {
	case a.Config != nil:
		return a.Config, nil
	case a.Build != nil:
		return a.Build()
	default:
		return nil, errors.New("no access configuration")
	}
}

// Server returns the URL of the member's API server: Config's Host, or
// Host.
func (a *Access) Server() string {
	if a.Config != nil {
		return a.Config.Host
	}
	return a.Host
}

// AccessError is a reason, in the sense of a condition reason, and a message
// that tell a user why a member cannot be reached.
type AccessError struct {
	// Reason is a CamelCase condition reason, for example "InvalidKubeconfig".
	Reason string
	// Message is a human-readable explanation without credentials.
	Message string
}

// Error implements error.
func (e *AccessError) Error() string { return e.Reason + ": " + e.Message }
