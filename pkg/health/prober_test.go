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

package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/member"
)

func TestProberFollowsTheMember(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	healthy.Store(true)
	upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			if !healthy.Load() {
				http.Error(w, "etcd not ready", http.StatusInternalServerError)
				return
			}
			_, _ = w.Write([]byte("ok"))
		case "/version":
			_, _ = w.Write([]byte(`{"gitVersion":"v1.37.0"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()

	inv := inventory.New()
	inv.Replace("test", []inventory.Member{{
		Name: "m", Origin: "test:m",
		Cluster: &clusters.Cluster{Spec: clusters.ClusterSpec{Server: upstream.URL}},
		Access:  inventory.Access{Config: &rest.Config{Host: upstream.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Hash: "h"},
	}})
	transports := member.NewTransports(member.Options{Timeouts: member.Timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: time.Second}})
	p, err := New(inv, transports, Options{Interval: 50 * time.Millisecond, MaxInterval: 100 * time.Millisecond, Timeout: time.Second, Workers: 2, MaxRate: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go p.Run(ctx)

	ready := func(status, reason string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			obj, _ := inv.Get("m")
			c := meta.FindStatusCondition(obj.Status.Conditions, clusters.ConditionReady)
			return c != nil && string(c.Status) == status && c.Reason == reason, nil
		})
		if err != nil {
			obj, _ := inv.Get("m")
			t.Fatalf("Ready never became %s/%s: %+v", status, reason, obj.Status)
		}
	}
	ready("True", clusters.ReasonHealthy)
	if obj, _ := inv.Get("m"); obj.Status.Version == nil || obj.Status.Version.Kubernetes != "v1.37.0" {
		t.Errorf("version = %+v, want v1.37.0", obj.Status.Version)
	}
	healthy.Store(false)
	ready("False", clusters.ReasonUnhealthy)
	healthy.Store(true)
	ready("True", clusters.ReasonHealthy)
	upstream.Close()
	ready("False", clusters.ReasonUnreachable)

	// A new access configuration is checked at once, though nothing a
	// client sees changes with it.
	again := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer again.Close()
	inv.Replace("test", []inventory.Member{{
		Name: "m", Origin: "test:m",
		Cluster: &clusters.Cluster{Spec: clusters.ClusterSpec{Server: upstream.URL}},
		Access:  inventory.Access{Config: &rest.Config{Host: again.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Hash: "h2"},
	}})
	ready("True", clusters.ReasonHealthy)
}

// TestProbeFallsBackToHealthz checks a member without a readable /readyz
// (older, or hiding it): /healthz decides.
func TestProbeFallsBackToHealthz(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		healthz int
		ready   bool
		reason  string
	}{
		{http.StatusOK, true, clusters.ReasonHealthy},
		{http.StatusInternalServerError, false, clusters.ReasonUnhealthy},
	} {
		upstream := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/readyz":
				http.Error(w, "forbidden", http.StatusForbidden)
			case "/healthz":
				w.WriteHeader(tc.healthz)
			default:
				http.NotFound(w, r)
			}
		}))
		transports := member.NewTransports(member.Options{Timeouts: member.DefaultTimeouts()})
		tr, err := transports.Temporary("m", inventory.Access{Config: &rest.Config{Host: upstream.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Hash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		h := probe(t.Context(), tr, upstream.URL, "", time.Second, false)
		tr.Close()
		upstream.Close()
		if h.Ready != tc.ready || h.Reason != tc.reason {
			t.Errorf("/readyz 403, /healthz %d: ready %v %s (%s); want %v %s", tc.healthz, h.Ready, h.Reason, h.Message, tc.ready, tc.reason)
		}
	}
}

// TestScheduleBacksOffAndRespectsTheRateCap checks the wait before a
// member's next check: Interval while it is healthy, doubling with each
// failure in a row up to MaxInterval, back to Interval once healthy; and
// never less than the fleet's size over MaxRate, so that a large fleet is
// checked less often instead of more than MaxRate times a second.
func TestScheduleBacksOffAndRespectsTheRateCap(t *testing.T) {
	t.Parallel()
	opts := Options{Interval: time.Second, MaxInterval: 8 * time.Second, Timeout: time.Second, Workers: 1, MaxRate: 10}
	p, err := New(inventory.New(), member.NewTransports(member.Options{}), opts)
	if err != nil {
		t.Fatal(err)
	}
	// nextIn checks name once with the outcome ready and returns the wait
	// before its next check, which is the scheduled one plus a jitter of
	// at most a tenth of it.
	nextIn := func(name string, ready bool) time.Duration {
		t.Helper()
		before := time.Now()
		p.done(name, "h", ready, "")
		return p.state[name].next.Sub(before)
	}
	about := func(got, want time.Duration) bool {
		return got >= want-100*time.Millisecond && got <= want+want/10+100*time.Millisecond
	}
	p.state["a"] = &schedule{hash: "h"}
	steps := []struct {
		ready bool
		want  time.Duration
	}{
		{true, time.Second},
		{false, time.Second},
		{false, 2 * time.Second},
		{false, 4 * time.Second},
		{false, 8 * time.Second},
		{false, 8 * time.Second},
		{true, time.Second},
		{false, time.Second},
	}
	for i, s := range steps {
		if got := nextIn("a", s.ready); !about(got, s.want) {
			t.Errorf("step %d (ready=%v): next check in %s, want %s", i, s.ready, got, s.want)
		}
	}

	// 101 members at 10 checks a second: each is checked every 10.1s at
	// most, failing or not, even past MaxInterval.
	for i := range 100 {
		p.state[fmt.Sprintf("m%d", i)] = &schedule{hash: "h"}
	}
	if got := nextIn("m0", true); !about(got, 10100*time.Millisecond) {
		t.Errorf("healthy member of 101 at 10/s: next check in %s, want 10.1s", got)
	}
	for range 5 {
		nextIn("m1", false)
	}
	if got := nextIn("m1", false); !about(got, 10100*time.Millisecond) {
		t.Errorf("failing member of 101 at 10/s: next check in %s, want 10.1s", got)
	}
}
