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

// Package health checks members' API servers in the background and records
// the outcome in the inventory, where it becomes the Ready condition and the
// Kubernetes version of each Cluster.
package health

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/proxy"
)

// Options configure the prober.
type Options struct {
	// Interval is the time between checks of a healthy member.
	Interval time.Duration
	// MaxInterval caps the back-off between checks of a failing member.
	MaxInterval time.Duration
	// Timeout bounds one check.
	Timeout time.Duration
	// Workers is how many members are checked at once.
	Workers int
	// MaxRate caps the checks per second over all members.
	MaxRate float64
}

// Prober checks every member of an inventory through the proxy's cached
// transports, so checks reuse the connections requests use.
type Prober struct {
	opts       Options
	inv        *inventory.Inventory
	transports *proxy.Transports

	mu    sync.Mutex
	state map[string]*schedule // by cluster name
}

// schedule is when a member is checked next, and how often it failed.
type schedule struct {
	hash     string
	next     time.Time
	failures int
	busy     bool
	version  string
}

// New returns a prober for the members of inv.
func New(inv *inventory.Inventory, transports *proxy.Transports, opts Options) *Prober {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.MaxRate <= 0 {
		opts.MaxRate = 100
	}
	return &Prober{opts: opts, inv: inv, transports: transports, state: map[string]*schedule{}}
}

// Run checks members until ctx is done. A new member, or one whose access
// configuration changed, is checked at once; a healthy one every Interval;
// a failing one with exponential back-off up to MaxInterval.
func (p *Prober) Run(ctx context.Context) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				p.check(ctx, name)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)

	limit := rate.NewLimiter(rate.Limit(p.opts.MaxRate), p.opts.Workers)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, name := range p.due(time.Now()) {
			if limit.Wait(ctx) != nil {
				return
			}
			select {
			case work <- name:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// due returns the members to check now and marks them busy. It also
// forgets members that left the inventory.
func (p *Prober) due(now time.Time) []string {
	objs, _ := p.inv.List()
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[string]bool, len(objs))
	var out []string
	for _, obj := range objs {
		name := obj.Name
		seen[name] = true
		access, ok := p.inv.Access(name)
		if !ok || access.Err != nil {
			continue
		}
		s, ok := p.state[name]
		if !ok || s.hash != access.Hash {
			s = &schedule{hash: access.Hash, next: now}
			p.state[name] = s
		}
		if !s.busy && !now.Before(s.next) {
			s.busy = true
			out = append(out, name)
		}
	}
	for name := range p.state {
		if !seen[name] {
			delete(p.state, name)
		}
	}
	return out
}

// check probes one member and schedules its next check.
func (p *Prober) check(ctx context.Context, name string) {
	access, ok := p.inv.Access(name)
	if !ok || access.Config == nil {
		p.done(name, "", true, "")
		return
	}
	p.mu.Lock()
	knownVersion := ""
	if s, ok := p.state[name]; ok && s.hash == access.Hash {
		knownVersion = s.version
	}
	p.mu.Unlock()

	// A member the proxy is using is checked over the proxy's transport
	// and connections. Any other is checked over a transport that is
	// closed afterwards: keeping a client and a TLS connection for each of
	// 10,000 members nobody uses costs hundreds of megabytes.
	h := inventory.Health{Checked: true}
	tr, cached := p.transports.Cached(name, access)
	var err error
	if !cached {
		tr, err = p.transports.Temporary(name, access)
	}
	if err == nil {
		h = probe(ctx, tr, access.Config.Host, access.Via, p.opts.Timeout, knownVersion == "")
		if !cached {
			tr.Close()
		}
	} else {
		h.Reason, h.Message = clusters.ReasonCredentialError, "building the member's client: "+err.Error()
	}
	if h.Version == "" {
		h.Version = knownVersion
	}
	if !h.Ready {
		klog.V(2).InfoS("Member cluster is not ready", "cluster", name, "reason", h.Reason, "message", inventory.Redact(h.Message))
	}
	p.inv.SetHealth(name, access.Hash, h)
	p.done(name, access.Hash, h.Ready, h.Version)
}

// done schedules the next check of name.
func (p *Prober) done(name, hash string, ready bool, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.state[name]
	if !ok || s.hash != hash {
		return // gone or changed meanwhile; due() starts afresh
	}
	s.busy = false
	s.version = version
	// Never more than MaxRate checks a second in all: a large fleet is
	// checked less often rather than flooded with handshakes.
	base := max(p.opts.Interval, time.Duration(float64(len(p.state))/p.opts.MaxRate*float64(time.Second)))
	wait := base
	if ready {
		s.failures = 0
	} else {
		s.failures++
		for i := 1; i < s.failures && wait < p.opts.MaxInterval; i++ {
			wait *= 2
		}
		wait = min(wait, max(p.opts.MaxInterval, base))
	}
	// Spread checks so that many members do not line up.
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	s.next = time.Now().Add(wait)
}
