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
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 4: connections from clusters-apiserver to a member.
const (
	hammerClients = 64
	maxMemberConn = 4
)

// connectionFigures is scenario 4.
type connectionFigures struct {
	Clients int   `json:"clients"`
	Load    stats `json:"load"`
	// Before, Peak and After are TCP connections from clusters-apiserver
	// to member-1 before the load, at most during it, and just after it.
	Before int `json:"connectionsBefore"`
	Peak   int `json:"peakConnections"`
	After  int `json:"connectionsAfter"`
}

// connections is scenario 4: 64 clients, each with its own connection to
// the hub, send GETs through the proxy to member-1 while the TCP
// connections from clusters-apiserver to member-1 are counted.
func (b *bench) connections(ctx context.Context) error {
	pid := b.env.ServerPID()
	ep := b.clients.viaHub(harness.ProxyPath("member-1", smallPath))
	before, err := harness.EstablishedTo(pid, b.memberPort)
	if err != nil {
		return err
	}
	conns := sampleConns(pid, b.memberPort)
	st, err := load{concurrency: hammerClients, warmup: b.opts.warmup, duration: b.opts.duration, connPerWorker: true}.run(ctx, ep)
	peak, sampleErr := conns.Peak()
	if err != nil {
		return err
	}
	if sampleErr != nil {
		return sampleErr
	}
	time.Sleep(100 * time.Millisecond)
	after, _ := harness.EstablishedTo(pid, b.memberPort)
	f := connectionFigures{Clients: hammerClients, Load: st, Before: before, Peak: peak, After: after}
	b.report.figure("4-connections", f)
	b.report.check("4", fmt.Sprintf("TCP connections clusters-apiserver → member-1, %d clients with own connections through the hub (%.0f req/s)", hammerClients, st.RPS),
		fmt.Sprintf("%d before, peak %d, %d after (one of them is member-1-source's, another cluster on member-1's port)", before, peak, after), fmt.Sprintf("≤ %d", maxMemberConn), peak <= maxMemberConn)
	return nil
}
