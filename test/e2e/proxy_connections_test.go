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

package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Load of TestProxyReusesMemberConnections: clients at once, requests each.
const (
	loadClients  = 64
	loadRequests = 20
	// maxMemberConns is the most TCP connections the proxy may hold to one
	// member under that load: a handful, as one transport per member,
	// reused, gives (with HTTP/2 one or two).
	maxMemberConns = 4
)

// TestProxyReusesMemberConnections sends many concurrent requests through
// the proxy to member-1 and counts the TCP connections clusters-apiserver
// holds to member-1 meanwhile: a transport per member, built once and
// reused, keeps them to a handful.
func TestProxyReusesMemberConnections(t *testing.T) {
	pid := env.ServerPID()
	if pid == 0 {
		t.Fatal("clusters-apiserver is not running")
	}
	u, err := url.Parse(env.Members[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	admin := hubTLS(t, env.HubKubeconfig)
	target := env.HubURL + harness.ProxyPath("member-1", "/api/v1/namespaces/default")
	// The first request builds member-1's transport, if nothing has yet.
	if resp := send(t, admin, http.MethodGet, target, nil, ""); resp.code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, resp.code, resp.body)
	}
	buildsBefore, _ := metricValue(scrape(t, "clusters_proxy_"), "clusters_proxy_transport_builds_total", map[string]string{"cluster": "member-1"})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var peak atomic.Int64
	sampled := make(chan error, 1)
	samplerCtx, stopSampler := context.WithCancel(ctx)
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			n, err := harness.EstablishedTo(pid, port)
			if err != nil {
				sampled <- err
				return
			}
			if int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
			select {
			case <-samplerCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var failures atomic.Int64
	var firstFailure sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range loadClients {
		wg.Go(func() {
			// Each client has its own connection to the hub.
			tr := &http.Transport{TLSClientConfig: admin.Clone(), ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			for range loadRequests {
				code, err := get(ctx, client, target)
				if err != nil || code != http.StatusOK {
					failures.Add(1)
					firstFailure.Do(func() { t.Errorf("GET %s: %d, %v", target, code, err) })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopSampler()
	if err := <-sampled; err != nil {
		t.Fatalf("counting connections: %v", err)
	}
	after, err := harness.EstablishedTo(pid, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests in %s, %d failed; connections from clusters-apiserver to member-1: at most %d during the load, %d after",
		loadClients*loadRequests, elapsed.Round(time.Millisecond), failures.Load(), peak.Load(), after)
	if peak.Load() == 0 {
		t.Error("no connection to member-1 seen during the load")
	}
	if peak.Load() > maxMemberConns {
		t.Errorf("clusters-apiserver held up to %d connections to member-1, want at most %d", peak.Load(), maxMemberConns)
	}
	buildsAfter, _ := metricValue(scrape(t, "clusters_proxy_"), "clusters_proxy_transport_builds_total", map[string]string{"cluster": "member-1"})
	if buildsAfter != buildsBefore {
		t.Errorf("clusters_proxy_transport_builds_total{cluster=member-1} went from %v to %v during the load, want no new transport", buildsBefore, buildsAfter)
	}
}

// get sends a GET and drains the answer, so that its connection is reused.
func get(ctx context.Context, client *http.Client, target string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, http.NoBody)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
