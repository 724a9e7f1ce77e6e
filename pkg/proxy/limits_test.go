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

package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

// TestLimiter counts requests per user, per cluster and in all, and
// streams apart; a refusal names its flag and asks to retry in a second;
// releasing twice counts once; nothing is kept once all ended.
func TestLimiter(t *testing.T) {
	t.Parallel()
	l := newLimiter(Limits{RequestsPerUser: 2, RequestsPerCluster: 3, Requests: 5, StreamsPerUser: 1, StreamsPerCluster: 2, Streams: 3})
	var releases []func()
	take := func(user, cluster string, stream bool, wantLimit string) {
		t.Helper()
		release, limit, err := l.acquire(user, cluster, stream)
		if limit != wantLimit {
			t.Fatalf("acquire(%s, %s, stream %v): limit %q (%v), want %q", user, cluster, stream, limit, err, wantLimit)
		}
		if err != nil {
			if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "--proxy-max-"+wantLimit) {
				t.Errorf("refusal %v: want a 429 naming --proxy-max-%s", err, wantLimit)
			}
			if s, ok := apierrors.SuggestsClientDelay(err); !ok || s != 1 {
				t.Errorf("refusal %v: retry after %d, %v; want 1 s", err, s, ok)
			}
			return
		}
		releases = append(releases, release)
	}
	take("alice", "a", false, "")
	take("alice", "b", false, "")
	take("alice", "c", false, "requests-per-user")
	take("alice", "a", true, "") // a stream does not count as a request
	take("alice", "b", true, "streams-per-user")
	take("bob", "a", false, "")
	take("bob", "a", false, "")
	take("carol", "a", false, "requests-per-cluster")
	take("carol", "c", false, "")
	take("dave", "d", false, "requests")
	take("bob", "a", true, "")
	take("carol", "a", true, "streams-per-cluster")
	take("carol", "b", true, "")
	take("dave", "d", true, "streams")

	releases[0]() // alice's first request
	releases[0]() // twice: counted once
	take("dave", "d", false, "")
	for _, r := range releases {
		r()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range []counts{l.plain, l.streams} {
		if len(c.users)+len(c.clusters)+c.total != 0 {
			t.Errorf("after every request ended: %+v; want nothing", c)
		}
	}
}

// TestStreaming sorts requests into streams and plain requests as the
// member would treat them: what the member keeps open is a stream, however
// its query spells the boolean; what it answers at once is not, whatever
// its query says.
func TestStreaming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path, query string
		want                bool
	}{
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=true", true},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=1", true},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=yes", true},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=", true},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=True&resourceVersion=5", true},
		{"GET", "/apis/apps/v1/deployments", "watch=t", true},
		{"GET", "/api/v1/watch/namespaces/a/configmaps", "", true},
		{"GET", "/api/v1/namespaces/a/pods/p/log", "follow=true", true},
		{"GET", "/api/v1/namespaces/a/pods/p/log", "follow=1&container=c", true},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=false", false},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=0", false},
		{"GET", "/api/v1/namespaces/a/configmaps", "", false},
		{"GET", "/api/v1/namespaces/a/configmaps/c", "watch=true", false},
		{"GET", "/api/v1/namespaces/a/pods/p/log", "", false},
		{"GET", "/api/v1/namespaces/a/pods/p/status", "follow=true", false},
		{"POST", "/api/v1/namespaces/a/configmaps", "watch=true", false},
		{"DELETE", "/api/v1/namespaces/a/configmaps", "watch=1", false},
		{"GET", "/api/v1/namespaces/a/services/s/proxy/x", "watch=true", false},
		{"GET", "/version", "watch=true", false},
		{"GET", "/api/v1/namespaces/a/configmaps", "watch=true;x", false},
	}
	for _, tc := range tests {
		if got := streaming(tc.method, tc.path, tc.query); got != tc.want {
			t.Errorf("streaming(%s %s?%s) = %v, want %v", tc.method, tc.path, tc.query, got, tc.want)
		}
	}
}

// TestLimitsThroughTheHandler: with alice's two slow requests in flight,
// her third is refused with 429 before it reaches the member while bob's
// goes through; once hers end, she is served again.
func TestLimitsThroughTheHandler(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		reached int
	)
	hold := make(chan struct{})
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached++
		mu.Unlock()
		if r.URL.Path == "/slow" {
			<-hold
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	cfg := &rest.Config{Host: upstream.URL, BearerToken: "member-token", TLSClientConfig: rest.TLSClientConfig{CAData: caPEM(upstream)}}
	inv := inventory.New()
	inv.Replace("src", []inventory.Member{{Name: "m", Origin: "o", Access: inventory.Access{Config: cfg, Hash: "h", Impersonate: true}}})
	p := New(inv, member.NewTransports(member.Options{Timeouts: member.DefaultTimeouts()}), nil, Identity{}, Limits{RequestsPerUser: 2})
	srv := serveProxy(t, p, "m")
	get := func(user, path string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, http.NoBody)
		req.Header.Set("Test-User", user)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	var slow sync.WaitGroup
	for range 2 {
		slow.Go(func() {
			if code, _ := get("alice", "/slow"); code != http.StatusOK {
				t.Errorf("alice's slow request: %d", code)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second) // bounds a wait, not a goal
	for {
		mu.Lock()
		n := reached
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d slow requests reached the member, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, body := get("alice", "/fast"); code != http.StatusTooManyRequests || !strings.Contains(body, "--proxy-max-requests-per-user") {
		t.Errorf("alice's third request: %d %q; want 429 naming the flag", code, body)
	}
	if code, _ := get("bob", "/fast"); code != http.StatusOK {
		t.Errorf("bob's request while alice is at her limit: %d, want 200", code)
	}
	mu.Lock()
	if reached != 3 {
		t.Errorf("%d requests reached the member, want 3: the refused one must not", reached)
	}
	mu.Unlock()
	close(hold)
	slow.Wait()
	if code, _ := get("alice", "/fast"); code != http.StatusOK {
		t.Errorf("alice's request once hers ended: %d, want 200", code)
	}
}
