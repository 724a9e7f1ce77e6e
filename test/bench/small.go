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

package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// smallPath is the small request of scenario 1.
const smallPath = "/api/v1/namespaces/default"

// smallPoint is one concurrency of scenario 1.
type smallPoint struct {
	Concurrency int `json:"concurrency"`
	// Direct (a), Hub (b), Server (c) and Cluster (d): see smallRequests.
	Direct  stats `json:"direct"`
	Hub     stats `json:"hub"`
	Server  stats `json:"server"`
	Cluster stats `json:"clusterGet"`
	// ServerSource is (c) to a cluster reached without impersonation: the
	// member's cost of impersonation is the difference.
	ServerSource stats `json:"serverSourceIdentity"`
	// Ratios of p50s, and of requests/s.
	HubOverDirectP50        float64 `json:"hubOverDirectP50"`
	ServerOverDirectP50     float64 `json:"serverOverDirectP50"`
	HubOverDirectPlusAggP50 float64 `json:"hubOverDirectPlusClusterGetP50"`
	HubOverDirectRPS        float64 `json:"hubOverDirectRPS"`
	ServerOverDirectRPS     float64 `json:"serverOverDirectRPS"`
	// MemberConns is the most TCP connections from clusters-apiserver to
	// member-1 after (b) and after (c).
	MemberConns int `json:"memberConns"`
	// HubConns are the TCP connections from the hub to clusters-apiserver
	// after (b) and (d).
	HubConns int `json:"hubConns"`
}

// smallRequests is scenario 1: GET /api/v1/namespaces/default on member-1
// at concurrency 1, 16 and 64, (a) directly, (b) through the hub and the
// proxy, (c) through the proxy on clusters-apiserver's own port with the
// hub's front-proxy certificate, and (d) GET of one Cluster through the hub,
// the cost of the aggregation hop alone. Each variant is one client-go-like
// client: one HTTP/2 connection shared by all workers.
func (b *bench) smallRequests(ctx context.Context) error {
	c := b.clients
	var points []smallPoint
	for _, conc := range []int{1, 16, 64} {
		p := smallPoint{Concurrency: conc}
		variants := []*smallVariant{
			{name: "a", ep: c.direct(smallPath), out: &p.Direct},
			{name: "b", ep: c.viaHub(harness.ProxyPath("member-1", smallPath)), out: &p.Hub},
			{name: "c", ep: c.viaServer(harness.ProxyPath("member-1", smallPath)), out: &p.Server},
			{name: "d", ep: c.viaHub(clustersPath + "/member-1"), out: &p.Cluster},
			{name: "c'", ep: c.viaServer(harness.ProxyPath(sourceIdentityCluster, smallPath)), out: &p.ServerSource},
		}
		if err := b.runSmall(ctx, conc, variants); err != nil {
			return err
		}
		// Counted after the load, not during it: sampling /proc costs CPU
		// the load would miss. Idle connections stay open for 90 s, so
		// none the load opened is gone yet.
		p.MemberConns, _ = harness.EstablishedTo(b.env.ServerPID(), b.memberPort)
		if hub := b.processes()["hub"]; hub != 0 {
			p.HubConns, _ = harness.EstablishedTo(hub, b.serverPort)
		}
		p.HubOverDirectP50 = p.Hub.P50Ms / p.Direct.P50Ms
		p.ServerOverDirectP50 = p.Server.P50Ms / p.Direct.P50Ms
		p.HubOverDirectPlusAggP50 = p.Hub.P50Ms / (p.Direct.P50Ms + p.Cluster.P50Ms)
		p.HubOverDirectRPS = p.Hub.RPS / p.Direct.RPS
		p.ServerOverDirectRPS = p.Server.RPS / p.Direct.RPS
		points = append(points, p)
		b.reportSmall(p)
	}
	b.report.figure("1-small-requests", points)
	return nil
}

// smallVariant is one way of sending the small request.
type smallVariant struct {
	name    string
	ep      endpoint
	out     *stats
	clients []*http.Client
	m       measured
	cpu     cpuUse
}

// smallRounds is how many turns the variants of a load point take, so that
// a change of background load hits them alike.
const smallRounds = 3

// runSmall warms every variant's client up, then runs the variants in
// turns, smallRounds times, pooling their requests and CPU use.
func (b *bench) runSmall(ctx context.Context, conc int, variants []*smallVariant) error {
	for _, v := range variants {
		v.clients = load{concurrency: conc}.clients(v.ep)
		defer closeAll(v.clients)
		if m := (load{concurrency: conc, duration: b.opts.warmup}).runWith(ctx, v.clients, v.ep); m.firstErr != nil {
			return fmt.Errorf("%s: %w", v.ep.url, m.firstErr)
		}
	}
	round := b.opts.duration / smallRounds
	for i := range smallRounds {
		for _, v := range variants {
			var profiled <-chan struct{}
			if i == 0 && (v.name == "b" || v.name == "c") && conc != 64 {
				profiled = b.profileAfter(ctx, fmt.Sprintf("small-%s-c%d", v.name, conc), 0, round)
			}
			var top <-chan string
			if i == 0 && v.name == "c" && conc == 16 && profiled == nil {
				top = b.topFunctions(ctx, round)
			}
			meter := b.startCPU()
			m := load{concurrency: conc, duration: round}.runWith(ctx, v.clients, v.ep)
			v.cpu.add(meter.stop())
			if profiled != nil {
				<-profiled
			}
			if top != nil {
				b.report.add("1", "GET namespace, c=16: clusters-apiserver CPU profile of (c), top 10 functions (flat)", <-top)
			}
			if m.firstErr != nil {
				return fmt.Errorf("%s: %d requests failed, the first: %w", v.ep.url, m.errors, m.firstErr)
			}
			v.m.add(m)
		}
	}
	for _, v := range variants {
		*v.out = v.m.stats()
		v.out.CPUMsPerRequest = v.cpu.perRequest(v.out.Requests)
		b.logf("  c=%d (%s): p50 %s p99 %s %.0f req/s; CPU ms/request %s", conc, v.name, fmtMs(v.out.P50Ms), fmtMs(v.out.P99Ms), v.out.RPS, fmtCPU(v.out.CPUMsPerRequest))
	}
	return nil
}

func (b *bench) reportSmall(p smallPoint) {
	r := b.report
	label := func(s string) string { return fmt.Sprintf("GET namespace, c=%d: %s", p.Concurrency, s) }
	line := func(st stats) string {
		return fmt.Sprintf("p50 %s, p99 %s, %.0f req/s; CPU ms/req %s", fmtMs(st.P50Ms), fmtMs(st.P99Ms), st.RPS, fmtCPU(st.CPUMsPerRequest))
	}
	r.add("1", label("(a) direct to member"), line(p.Direct))
	r.add("1", label("(b) hub → clusters-apiserver → member"), line(p.Hub))
	r.add("1", label("(c) clusters-apiserver port → member"), line(p.Server))
	r.add("1", label("(d) GET one Cluster through the hub"), line(p.Cluster))
	r.add("1", label("(c′) as (c), cluster with --proxy-identity=source (no impersonation on the member)"), line(p.ServerSource))
	ratios := fmt.Sprintf("p50 b/a %s, c/a %s; req/s b/a %s, c/a %s",
		fmtRatio(p.HubOverDirectP50), fmtRatio(p.ServerOverDirectP50), fmtRatio(p.HubOverDirectRPS), fmtRatio(p.ServerOverDirectRPS))
	r.add("1", label("ratios"), ratios)
	r.add("1", label("TCP connections hub → clusters-apiserver → member-1 after the load"), fmt.Sprintf("%d → %d", p.HubConns, p.MemberConns))
	switch p.Concurrency {
	case 1:
		// The targets of issue 15.
		r.check("1", label("(c)/(a) p50"), fmtRatio(p.ServerOverDirectP50), "≤ 1.15x", p.ServerOverDirectP50 <= 1.15)
		r.check("1", label("(b)/((a)+(d)) p50"), fmtRatio(p.HubOverDirectPlusAggP50), "≤ 1.10x", p.HubOverDirectPlusAggP50 <= 1.10)
	case 16:
		r.check("1", label("(b)/(a) req/s"), fmtRatio(p.HubOverDirectRPS), "≥ 0.55x", p.HubOverDirectRPS >= 0.55)
		r.add("1", label("(b)/((a)+(d)) p50"), fmtRatio(p.HubOverDirectPlusAggP50))
	default:
		r.add("1", label("(b)/((a)+(d)) p50"), fmtRatio(p.HubOverDirectPlusAggP50))
	}
}

// profileAfter profiles clusters-apiserver for d, starting after delay.
func (b *bench) profileAfter(ctx context.Context, name string, delay, d time.Duration) <-chan struct{} {
	if b.opts.profileDir == "" {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		<-b.profile(ctx, name, max(d, time.Second))
	}()
	return done
}
