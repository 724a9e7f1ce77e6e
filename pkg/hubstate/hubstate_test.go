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

package hubstate

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

func member(name string, typ clusters.SourceType) inventory.Member {
	return inventory.Member{
		Name:   name,
		Origin: "test:" + name,
		Cluster: &clusters.Cluster{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"env": "prod"}},
			Spec:       clusters.ClusterSpec{Server: "https://" + name, Source: clusters.ClusterSource{Type: typ}},
		},
		Access: inventory.Access{Hash: name},
	}
}

// TestRoundTrip: a Cluster published and read back is the same Cluster,
// with the ClusterState's resourceVersion and without the hash.
func TestRoundTrip(t *testing.T) {
	inv := inventory.New()
	inv.Replace("o", []inventory.Member{member("a", clusters.SourceTypeKubeconfig)})
	inv.SetHealth("a", "a", inventory.Health{Checked: true, Ready: true, Reason: "Healthy", Version: "v1.37.0"})
	c, _ := inv.Get("a")
	s, err := FromCluster(c)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if u.GetAnnotations()[HashAnnotation] == "" {
		t.Errorf("no %s on %v", HashAnnotation, u.GetAnnotations())
	}
	u.SetResourceVersion("42")
	back, err := Decode(u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.ToCluster()
	if err != nil {
		t.Fatal(err)
	}
	want := c.DeepCopy()
	want.ResourceVersion = "42"
	// The hub keeps times to the second.
	want.CreationTimestamp = metav1.NewTime(want.CreationTimestamp.Truncate(time.Second))
	for i := range want.Status.Conditions {
		want.Status.Conditions[i].LastTransitionTime = metav1.NewTime(want.Status.Conditions[i].LastTransitionTime.Truncate(time.Second))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	// Labels added by the hub's admission change nothing the leader
	// compares; a change of the Cluster does.
	again, _ := s.Encode()
	again.SetLabels(map[string]string{"env": "prod", "policy.example.com/added": "x"})
	if again.GetAnnotations()[HashAnnotation] != u.GetAnnotations()[HashAnnotation] {
		t.Error("the hash changed with nothing published changing")
	}
	s.Cluster.Spec.Server = "https://elsewhere"
	changed, _ := s.Encode()
	if changed.GetAnnotations()[HashAnnotation] == u.GetAnnotations()[HashAnnotation] {
		t.Error("the hash did not change with the server")
	}
}

// TestKeep: what a new leader, or a new check, has no reason to change
// stays as published.
func TestKeep(t *testing.T) {
	published := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	old := &State{Cluster: Cluster{CreationTimestamp: published}}
	old.Cluster.Spec.Server = "https://a"
	old.Cluster.Status.Conditions = []metav1.Condition{{Type: clusters.ConditionReady, Status: metav1.ConditionTrue, Reason: "Healthy", LastTransitionTime: published}}

	// A new leader that has not checked the member yet.
	pending := &State{Cluster: Cluster{CreationTimestamp: metav1.Now()}}
	pending.Cluster.Spec.Server = "https://a"
	pending.Cluster.Status.Conditions = []metav1.Condition{{Type: clusters.ConditionReady, Status: metav1.ConditionUnknown, Reason: clusters.ReasonPending, LastTransitionTime: metav1.Now()}}
	keep(pending, old)
	if diff := cmp.Diff(old.Cluster, pending.Cluster); diff != "" {
		t.Errorf("an unchecked member of the same spec (-published +kept):\n%s", diff)
	}

	// The same verdict with another message keeps its transition time; a
	// member moved elsewhere is not given the old verdict.
	moved := &State{}
	moved.Cluster.Spec.Server = "https://b"
	moved.Cluster.Status.Conditions = []metav1.Condition{{Type: clusters.ConditionReady, Status: metav1.ConditionUnknown, Reason: clusters.ReasonPending, LastTransitionTime: metav1.Now()}}
	keep(moved, old)
	if r := meta.FindStatusCondition(moved.Cluster.Status.Conditions, clusters.ConditionReady); r.Reason != clusters.ReasonPending || r.LastTransitionTime == published {
		t.Errorf("a member with another server got %+v", r)
	}
	if moved.Cluster.CreationTimestamp != published {
		t.Errorf("creation time %v; want the published %v", moved.Cluster.CreationTimestamp, published)
	}
}

// publisherEnv is a publisher on a fake hub.
type publisherEnv struct {
	inv           *inventory.Inventory
	client        *dynamicfake.FakeDynamicClient
	authoritative bool
	done          chan struct{}
	cancel        context.CancelFunc
}

func startPublisher(t *testing.T, objs ...runtime.Object) *publisherEnv {
	t.Helper()
	// The fake client's watch has no streaming lists.
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	scheme := runtime.NewScheme()
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{Resource: "ClusterStateList"}, objs...)
	e := &publisherEnv{inv: inventory.New(), client: client, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	e.cancel = cancel
	authoritative := func(string) bool { return e.authoritativeNow() }
	p := NewPublisher(e.inv, client.Resource(Resource), func() bool { return true }, authoritative, 4)
	go func() {
		defer close(e.done)
		p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("the publisher did not stop within 10s of its context ending")
		}
	})
	return e
}

var authMu = make(chan struct{}, 1)

func (e *publisherEnv) authoritativeNow() bool {
	authMu <- struct{}{}
	defer func() { <-authMu }()
	return e.authoritative
}

func (e *publisherEnv) setAuthoritative(v bool) {
	authMu <- struct{}{}
	defer func() { <-authMu }()
	e.authoritative = v
}

// names waits until the hub's ClusterStates are want.
func (e *publisherEnv) names(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, err := e.client.Resource(Resource).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, item := range list.Items {
			got = append(got, item.GetName())
		}
		if cmp.Equal(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ClusterStates %v; want %v", got, want)
}

// TestPublisher: Clusters are published, updated only when they change,
// and unpublished only once their source is authoritative; the publisher
// stops when its leadership ends.
func TestPublisher(t *testing.T) {
	oldResync, oldHold := resyncInterval, holdFirst
	resyncInterval, holdFirst = 100*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { resyncInterval, holdFirst = oldResync, oldHold })

	// A state a former leader published, of a cluster this one's source
	// has not read.
	stale, err := FromCluster(&clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "cp.fleet.x"},
		Spec:       clusters.ClusterSpec{Server: "https://x", Source: clusters.ClusterSource{Type: clusters.SourceTypeClusterProfile}},
	})
	if err != nil {
		t.Fatal(err)
	}
	staleU, _ := stale.Encode()
	e := startPublisher(t, staleU)
	e.inv.Replace("o", []inventory.Member{member("a", clusters.SourceTypeKubeconfig), member("b", clusters.SourceTypeKubeconfig)})
	e.names(t, "a", "b", "cp.fleet.x")

	// Nothing changes: no write, whatever the resyncs.
	writes := func() int {
		n := 0
		for _, a := range e.client.Actions() {
			if v := a.GetVerb(); v == "create" || v == "update" || v == "delete" {
				n++
			}
		}
		return n
	}
	before := writes()
	time.Sleep(5 * resyncInterval)
	if after := writes(); after != before {
		t.Errorf("%d writes with nothing changed", after-before)
	}

	// A change is one update.
	e.inv.SetHealth("a", "a", inventory.Health{Checked: true, Ready: true, Reason: "Healthy"})
	deadline := time.Now().Add(10 * time.Second)
	for writes() == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	u, err := e.client.Resource(Resource).Get(t.Context(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedSlice(u.Object, "cluster", "status", "conditions"); len(got) == 0 || got[0].(map[string]any)["status"] != "True" {
		t.Errorf("a's conditions %v; want Ready True", got)
	}

	// Unpublished only once the source is authoritative.
	e.inv.Replace("o", []inventory.Member{member("a", clusters.SourceTypeKubeconfig)})
	time.Sleep(5 * resyncInterval)
	if _, err := e.client.Resource(Resource).Get(t.Context(), "b", metav1.GetOptions{}); err != nil {
		t.Errorf("b was unpublished before its source was authoritative: %v", err)
	}
	e.setAuthoritative(true)
	e.names(t, "a")
}
