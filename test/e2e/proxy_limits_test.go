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
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestProxyLimits runs the server with limits of two proxied streams and
// 20 proxied requests per hub user. Through the hub, alice's third watch of
// a member gets 429 with Retry-After: 1 and a Status naming the flag; bob's
// watch goes through; once alice closes one, her next watch is served.
// Then alice floods the member with 200 concurrent requests: the excess
// gets 429, and bob's proxied requests and cluster lists all succeed
// meanwhile (their latencies are logged, not asserted).
func TestProxyLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := env.RestartServerWith(ctx, "--proxy-max-streams-per-user=2", "--proxy-max-requests-per-user=20"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.RestartServerWith(context.Background()); err != nil {
			t.Errorf("restarting the server with the suite's flags: %v", err)
		}
	})

	cluster := env.Members[0].Name
	clients := map[string]*http.Client{}
	for _, u := range []string{"e2e-limits-alice", "e2e-limits-bob"} {
		kubeconfig, err := env.UserKubeconfig(u)
		if err != nil {
			t.Fatal(err)
		}
		clients[u] = &http.Client{Transport: &http.Transport{TLSClientConfig: hubTLS(t, kubeconfig)}}
		bindClusterRole(t, u, u, proxyRule([]string{"get"}, cluster))
		bindRole(t, env.MemberKube(t, 0), u, u, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "watch"}})
	}
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	watch := func(user string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			env.HubURL+harness.ProxyPath(cluster, "/api/v1/namespaces/default/configmaps?watch=true"), http.NoBody)
		resp, err := clients[user].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			open = append(open, resp)
		}
		return resp
	}
	refused := func(resp *http.Response) (bool, string) {
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var status metav1.Status
		_ = json.Unmarshal(body, &status)
		return resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "1" &&
				strings.Contains(status.Message, "--proxy-max-streams-per-user"),
			fmt.Sprintf("%d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	// The member's RBAC takes a moment to reach its authorizer's cache.
	harness.Eventually(t, 30*time.Second, "alice's first watch is served", func() (bool, string) {
		resp := watch("e2e-limits-alice")
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return false, fmt.Sprintf("%d: %s", resp.StatusCode, body)
		}
		return true, ""
	})
	if resp := watch("e2e-limits-alice"); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's second watch: %d", resp.StatusCode)
	}
	if ok, got := refused(watch("e2e-limits-alice")); !ok {
		t.Errorf("alice's third watch: %s; want 429, Retry-After 1 and a Status naming --proxy-max-streams-per-user", got)
	}
	if resp := watch("e2e-limits-bob"); resp.StatusCode != http.StatusOK {
		t.Errorf("bob's watch while alice is at her limit: %d, want 200", resp.StatusCode)
	}

	// Closing one of alice's watches frees its place once the hub has
	// ended the request here.
	open[0].Body.Close()
	open = open[1:]
	harness.Eventually(t, 30*time.Second, "alice's watch after she closed one is served", func() (bool, string) {
		resp := watch("e2e-limits-alice")
		if resp.StatusCode != http.StatusOK {
			_, got := refused(resp)
			return false, got
		}
		return true, ""
	})
	for _, r := range open {
		r.Body.Close()
	}
	open = nil

	t.Run("flood", func(t *testing.T) { flood(ctx, t, cluster, clients["e2e-limits-alice"], clients["e2e-limits-bob"]) })
}

// flood measures bob's proxied GETs and cluster lists, one at a time, for
// 2 seconds alone, then for 8 seconds while alice's 200 clients send
// proxied GETs in a loop (429s included, without waiting).
func flood(ctx context.Context, t *testing.T, cluster string, alice, bob *http.Client) {
	const floodFor, floods = 8 * time.Second, 200
	url := env.HubURL + harness.ProxyPath(cluster, "/api/v1/namespaces/default/configmaps")
	get := func(c *http.Client, url string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	hub := env.HubClusters(t)
	bobAlone := func(until time.Time) (proxied, listed []time.Duration, failures int) {
		for time.Now().Before(until) {
			start := time.Now()
			if code := get(bob, url); code != http.StatusOK {
				failures++
				t.Logf("bob's proxied GET: %d", code)
			}
			proxied = append(proxied, time.Since(start))
			start = time.Now()
			if _, err := hub.ClustersV1alpha1().Clusters().List(ctx, metav1.ListOptions{}); err != nil {
				failures++
				t.Logf("listing clusters: %v", err)
			}
			listed = append(listed, time.Since(start))
		}
		return proxied, listed, failures
	}
	quiet, quietListed, _ := bobAlone(time.Now().Add(2 * time.Second))
	t.Logf("bob alone: proxied GETs %d, p50 %s, p99 %s; cluster lists %d, p50 %s, p99 %s",
		len(quiet), quantile(quiet, 0.5), quantile(quiet, 0.99), len(quietListed), quantile(quietListed, 0.5), quantile(quietListed, 0.99))

	end := time.Now().Add(floodFor)
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range floods {
		wg.Go(func() {
			for time.Now().Before(end) {
				code := get(alice, url)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	proxied, listed, failures := bobAlone(end)
	wg.Wait()
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("alice's flood: %v; want some 429s past her 20 requests in flight", codes)
	}
	if failures > 0 {
		t.Errorf("%d of bob's %d requests failed during alice's flood, want none", failures, len(proxied)+len(listed))
	}
	t.Logf("alice's %d concurrent clients for %s: status codes %v", floods, floodFor, codes)
	t.Logf("bob's proxied GETs meanwhile: %d, p50 %s, p99 %s; cluster lists: %d, p50 %s, p99 %s",
		len(proxied), quantile(proxied, 0.5), quantile(proxied, 0.99), len(listed), quantile(listed, 0.5), quantile(listed, 0.99))
}

// quantile is the q-quantile of d (nearest rank).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Millisecond)
}
