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

// Package sources defines what every source of member clusters provides to
// the server. Each source writes what it finds into the inventory.
package sources

import "context"

// Source finds member clusters and keeps the inventory up to date with them.
type Source interface {
	// Name names the source in logs and in the readyz check that waits for it.
	Name() string
	// Run keeps the inventory up to date until ctx is done.
	Run(ctx context.Context)
	// HasSynced is true once the source has reported its initial state.
	HasSynced() bool
}

// Authority is a source that tells when what it reported is the whole
// truth: a Cluster of its type that it does not report is gone, not merely
// unread (the hub unreachable, its API not yet discovered). Only then may
// the leader unpublish such a Cluster.
type Authority interface {
	// SourceType is the spec.source.type of the Clusters it reports.
	SourceType() string
	// Authoritative is true once the source has read everything it reads.
	Authoritative() bool
}
