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
