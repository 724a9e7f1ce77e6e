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
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
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

// DefaultOptions returns the options the server's flags default to.
func DefaultOptions() Options {
	return Options{
		Interval:    15 * time.Second,
		MaxInterval: 2 * time.Minute,
		Timeout:     5 * time.Second,
		Workers:     16,
		MaxRate:     100,
	}
}

// Prober checks every member of an inventory through the cached member
// transports, so checks reuse the connections proxied requests use.
type Prober struct {
	opts       Options
	inv        *inventory.Inventory
	transports *member.Transports

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

// New returns a prober for the members of inv. Every option must be set
// (see DefaultOptions).
func New(inv *inventory.Inventory, transports *member.Transports, opts Options) (*Prober, error) {
	if opts.Workers <= 0 || opts.MaxRate <= 0 || opts.Interval <= 0 || opts.Timeout <= 0 || opts.MaxInterval < opts.Interval {
		return nil, fmt.Errorf("health checks need positive workers, rate, interval and timeout, and a max interval of at least the interval: %+v", opts)
	}
	return &Prober{opts: opts, inv: inv, transports: transports, state: map[string]*schedule{}}, nil
}

// Run checks members until ctx is done. A new member, or one whose access
// configuration changed, is checked at once; a healthy one every Interval;
// a failing one with exponential back-off up to MaxInterval.
//
// Each run starts afresh: a replica that leads again checks every member
// at once.
func (p *Prober) Run(ctx context.Context) {
	p.mu.Lock()
	p.state = map[string]*schedule{}
	p.mu.Unlock()
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
	var changed <-chan struct{}
	for {
		// Follow the members through one snapshot per change of the
		// inventory's members or access configurations, not a read of
		// every member each tick.
		if changed == nil || closed(changed) {
			var accesses map[string]inventory.Access
			accesses, changed = p.inv.Accesses()
			p.sync(accesses, time.Now())
		}
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

// closed tells whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sync sets the members to check: a new member, or one whose access
// configuration changed, is due at once; one that left the inventory, or
// that cannot be reached with its configuration, is forgotten.
func (p *Prober) sync(accesses map[string]inventory.Access, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, access := range accesses {
		if access.Err != nil {
			delete(p.state, name)
			continue
		}
		if s, ok := p.state[name]; !ok || s.hash != access.Hash {
			p.state[name] = &schedule{hash: access.Hash, next: now}
		}
	}
	for name := range p.state {
		if a, ok := accesses[name]; !ok || a.Err != nil {
			delete(p.state, name)
		}
	}
}

// due returns the members to check now and marks them busy.
func (p *Prober) due(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for name, s := range p.state {
		if !s.busy && !now.Before(s.next) {
			s.busy = true
			out = append(out, name)
		}
	}
	return out
}

// check probes one member and schedules its next check.
func (p *Prober) check(ctx context.Context, name string) {
	access, ok := p.inv.Access(name)
	if !ok || !access.Configured() {
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
		h = probe(ctx, tr, access.Server(), access.Via, p.opts.Timeout, knownVersion == "")
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
	checks.Inc()
	p.inv.SetHealth(name, access.Hash, h)
	p.done(name, access.Hash, h.Ready, h.Version)
}

// done schedules the next check of name.
func (p *Prober) done(name, hash string, ready bool, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.state[name]
	if !ok {
		return // gone meanwhile
	}
	if s.hash != hash {
		// Changed, or gone and back, meanwhile: check it again at once.
		s.busy = false
		return
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
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1)) //nolint:gosec // jitter, not a secret
	s.next = time.Now().Add(wait)
}
