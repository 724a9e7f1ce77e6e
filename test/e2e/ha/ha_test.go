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

package ha

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

const clustersPath = "/apis/clusters.headlamp.dev/v1alpha1/clusters"

// waitFor polls check every 100 ms until it returns true, failing t after
// timeout with the last reason.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, reason := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leader waits for a leader among the running replicas and returns it.
func leader(t *testing.T, timeout time.Duration) int {
	t.Helper()
	i := -1
	waitFor(t, timeout, "a leader", func() (bool, string) {
		var err error
		if i, err = env.Leader(t.Context()); err != nil {
			return false, err.Error()
		}
		return i >= 0, "no replica leads"
	})
	return i
}

// allReady waits until the hub lists every one of names as Ready.
func allReady(t *testing.T, names ...string) {
	t.Helper()
	clients := env.HubClusters(t)
	waitFor(t, 60*time.Second, fmt.Sprintf("clusters %v Ready", names), func() (bool, string) {
		for _, name := range names {
			c, err := clients.ClustersV1alpha1().Clusters().Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if !meta.IsStatusConditionTrue(c.Status.Conditions, clustersv1alpha1.ConditionReady) {
				return false, fmt.Sprintf("%s: %+v", name, c.Status.Conditions)
			}
		}
		return true, ""
	})
}

// testOneLeader: one replica leads, and only it checks the members' health,
// each member once per interval.
func testOneLeader(t *testing.T) {
	lead := leader(t, 30*time.Second)
	t.Logf("replica %d leads", lead)
	allReady(t, "member-1", "member-2")

	ctx := t.Context()
	sample := func() []float64 {
		out := make([]float64, env.Replicas())
		for i := range out {
			v, err := env.ReplicaMetric(ctx, i, "clusters_health_checks_total")
			if err != nil {
				t.Fatal(err)
			}
			out[i] = v
		}
		return out
	}
	// A measurement over a window, not a wait: the checks are counted
	// as they happen.
	const window, interval, members = 6 * time.Second, 2 * time.Second, 2
	before := sample()
	time.Sleep(window)
	after := sample()
	for i := range after {
		d := after[i] - before[i]
		switch {
		case i != lead && d != 0:
			t.Errorf("replica %d, not the leader, made %v health checks in %s", i, d, window)
		case i == lead:
			perMemberPerInterval := d / members / (float64(window) / float64(interval))
			t.Logf("the leader made %v health checks of %d members in %s: %.2f per member per interval", d, members, window, perMemberPerInterval)
			if perMemberPerInterval > 1.05 || perMemberPerInterval < 0.5 {
				t.Errorf("%.2f health checks per member per interval; want about 1", perMemberPerInterval)
			}
		}
	}
}

// item is what must be identical from every replica.
type item struct {
	Metadata json.RawMessage `json:"metadata"`
	Status   json.RawMessage `json:"status"`
}

// listFrom lists the Clusters straight from replica i.
func listFrom(ctx context.Context, i int) ([]item, error) {
	code, body, err := env.ReplicaGet(ctx, i, clustersPath)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("replica %d: %d %s", i, code, body)
	}
	var list struct {
		Items []item `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// testSameObjects: every replica serves the same Clusters, byte for byte
// in metadata and status, once the changes have settled.
func testSameObjects(t *testing.T) {
	var first []item
	waitFor(t, 30*time.Second, "the same Clusters from every replica", func() (bool, string) {
		var err error
		if first, err = listFrom(t.Context(), 0); err != nil {
			return false, err.Error()
		}
		for i := 1; i < env.Replicas(); i++ {
			items, err := listFrom(t.Context(), i)
			if err != nil {
				return false, err.Error()
			}
			if len(items) != len(first) {
				return false, fmt.Sprintf("replica 0 lists %d Clusters, replica %d %d", len(first), i, len(items))
			}
			for j := range items {
				if !bytes.Equal(items[j].Metadata, first[j].Metadata) || !bytes.Equal(items[j].Status, first[j].Status) {
					return false, fmt.Sprintf("replica 0 serves\n%s\n%s\nreplica %d serves\n%s\n%s", first[j].Metadata, first[j].Status, i, items[j].Metadata, items[j].Status)
				}
			}
		}
		return true, ""
	})
	t.Logf("%d Clusters, the same from %d replicas", len(first), env.Replicas())
	if len(first) < 2 {
		t.Errorf("only %d Clusters", len(first))
	}
}

// testLeaseLost: a leader whose Lease another holder takes (as after a
// renewal that failed for longer than the renew deadline) stops leading
// without dying, and a replica leads again once that holder lets the
// Lease expire.
func testLeaseLost(t *testing.T) {
	lead := leader(t, 30*time.Second)
	leases := env.HubKube(t).CoordinationV1().Leases(harness.ServerNamespace)
	lease, err := leases.Get(t.Context(), harness.ServerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	intruder := "e2e-intruder"
	now := metav1.NowMicro()
	lease.Spec.HolderIdentity = &intruder
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	if _, err := leases.Update(t.Context(), lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	waitFor(t, 30*time.Second, "replica "+strconv.Itoa(lead)+" to stop leading", func() (bool, string) {
		v, err := env.ReplicaMetric(t.Context(), lead, "clusters_leader")
		if err != nil {
			return false, err.Error()
		}
		return v == 0, "clusters_leader is still 1"
	})
	t.Logf("replica %d stopped leading %s after its Lease was taken", lead, time.Since(taken).Round(100*time.Millisecond))
	again := leader(t, 30*time.Second)
	t.Logf("replica %d leads %s after the Lease was taken", again, time.Since(taken).Round(100*time.Millisecond))
	before, err := env.ReplicaMetric(t.Context(), again, "clusters_health_checks_total")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new leader to check members", func() (bool, string) {
		v, err := env.ReplicaMetric(t.Context(), again, "clusters_health_checks_total")
		return err == nil && v > before, fmt.Sprintf("%v checks", v)
	})
}
