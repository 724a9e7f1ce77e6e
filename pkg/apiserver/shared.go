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

package apiserver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/sources"
)

// SharedState makes every replica serve one Cluster API: the leader,
// elected through a Lease on the hub, checks the members' health and
// publishes each Cluster to a ClusterState on the hub; every replica
// serves Clusters from the ClusterStates.
type SharedState struct {
	// States is the hub's ClusterState resource, read to serve the API.
	States dynamic.ResourceInterface
	// Publish is the same resource, through the leader's rate-limited
	// client.
	Publish dynamic.ResourceInterface
	// Lock is the Lease the replicas compete for.
	Lock resourcelock.Interface
	// LeaseDuration, RenewDeadline and RetryPeriod are those of client-go's
	// leader election: a leader that dies is replaced within about
	// LeaseDuration + RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// PublishWorkers write ClusterStates at once.
	PublishWorkers int
}

// lead runs the leader's work (health checks and publishing) for as long
// as this replica holds the Lease, in terms: each term starts its own
// prober and publisher. client-go starts a term in a goroutine of its own
// and does not wait for it; terms holds one term at a time, so that a new
// term never overlaps the end of the last one, and a term that starts once
// its leadership is already over returns at once.
func (s *Server) lead(ctx context.Context, shared *SharedState, term func(ctx context.Context)) {
	var terms sync.Mutex
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            shared.Lock,
			LeaseDuration:   shared.LeaseDuration,
			RenewDeadline:   shared.RenewDeadline,
			RetryPeriod:     shared.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            "clusters-apiserver",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					terms.Lock()
					defer terms.Unlock()
					if ctx.Err() != nil {
						return
					}
					klog.InfoS("Leading: checking the members' health and publishing ClusterStates", "identity", shared.Lock.Identity())
					hubstate.SetLeader(true)
					defer hubstate.SetLeader(false)
					term(ctx)
					klog.InfoS("No longer leading", "identity", shared.Lock.Identity())
				},
				OnStoppedLeading: func() {},
				OnNewLeader: func(identity string) {
					klog.InfoS("The leader of the clusters-apiserver replicas", "identity", identity, "self", identity == shared.Lock.Identity())
				},
			},
		})
		if err != nil {
			klog.ErrorS(err, "Cannot elect a leader")
			return
		}
		le.Run(ctx)
		// Wait for the term that just ended, if one started.
		terms.Lock()
		terms.Unlock() //nolint:staticcheck,gocritic // an empty critical section: waiting is the point
	}
}

// statesCheck is a readyz check that passes once the hub serves
// ClusterStates to this server: the API is served from them.
type statesCheck struct {
	states dynamic.ResourceInterface
	mu     sync.Mutex
	ok     bool
}

var _ healthz.HealthChecker = &statesCheck{}

// Name implements healthz.HealthChecker.
func (c *statesCheck) Name() string { return "clusterstates" }

// Check implements healthz.HealthChecker. Once passed, it passes for good:
// the hub being away later is reported per request.
func (c *statesCheck) Check(req *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok {
		return nil
	}
	if err := hubstate.Check(req.Context(), c.states); err != nil {
		return err
	}
	c.ok = true
	return nil
}

// authoritative reports, for a source type, whether its source has read
// everything (see sources.Authority); a type no source serves any more is
// gone for good.
func authoritative(srcs []sources.Source) func(sourceType string) bool {
	return func(sourceType string) bool {
		for _, src := range srcs {
			if a, ok := src.(sources.Authority); ok && a.SourceType() == sourceType {
				return a.Authoritative()
			}
		}
		return true
	}
}

// allSynced reports whether every source has synced.
func allSynced(srcs []sources.Source) func() bool {
	return func() bool {
		for _, src := range srcs {
			if !src.HasSynced() {
				return false
			}
		}
		return true
	}
}
