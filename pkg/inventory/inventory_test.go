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

package inventory

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

func member(name, origin string, prio int, server string) Member {
	return Member{
		Name:     name,
		Origin:   origin,
		Priority: prio,
		Cluster:  &clusters.Cluster{Spec: clusters.ClusterSpec{Server: server}},
		Access:   Access{Hash: server},
	}
}

func names(inv *Inventory) []string {
	objs, _ := inv.List()
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

type change struct {
	Type watch.EventType
	Name string
}

// drain returns the events after cursor as (type, name) pairs.
func drain(t *testing.T, c *Cursor) []change {
	t.Helper()
	evs, _, err := c.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	var out []change
	for _, ev := range evs {
		out = append(out, change{ev.Type, ev.Object.Name})
	}
	return out
}

func TestReplaceCollisions(t *testing.T) {
	t.Parallel()
	dupA := withSuffix("dev", shortHash("kubeconfig:/b:dev"))
	tests := []struct {
		name    string
		steps   []func(*Inventory)
		want    []string
		changes []change
	}{
		{
			name: "distinct names",
			steps: []func(*Inventory){func(inv *Inventory) {
				inv.Replace("a", []Member{member("one", "kubeconfig:/a:one", 0, "https://1"), member("two", "kubeconfig:/a:two", 0, "https://2")})
			}},
			want:    []string{"one", "two"},
			changes: []change{{watch.Added, "one"}, {watch.Added, "two"}},
		},
		{
			name: "same name from two files: both served, first origin keeps the name",
			steps: []func(*Inventory){
				func(inv *Inventory) { inv.Replace("b", []Member{member("dev", "kubeconfig:/b:dev", 0, "https://b")}) },
				func(inv *Inventory) { inv.Replace("a", []Member{member("dev", "kubeconfig:/a:dev", 0, "https://a")}) },
			},
			want: []string{"dev", dupA},
			// /a sorts first and takes "dev"; /b moves to its suffixed name.
			changes: []change{{watch.Added, "dev"}, {watch.Deleted, "dev"}, {watch.Added, "dev"}, {watch.Added, dupA}},
		},
		{
			name: "priority beats origin order",
			steps: []func(*Inventory){func(inv *Inventory) {
				inv.Replace("b", []Member{member("dev", "kubeconfig:/b:dev", 0, "https://b")})
				inv.Replace("a", []Member{member("dev", "kubeconfig:/a:dev", 1, "https://a")})
			}},
			want:    []string{"dev", withSuffix("dev", shortHash("kubeconfig:/a:dev"))},
			changes: []change{{watch.Added, "dev"}, {watch.Added, withSuffix("dev", shortHash("kubeconfig:/a:dev"))}},
		},
		{
			name: "collision resolved when the winner goes away",
			steps: []func(*Inventory){
				func(inv *Inventory) {
					inv.Replace("a", []Member{member("dev", "kubeconfig:/a:dev", 0, "https://a")})
					inv.Replace("b", []Member{member("dev", "kubeconfig:/b:dev", 0, "https://b")})
				},
				func(inv *Inventory) { inv.Replace("a", nil) },
			},
			want:    []string{"dev"},
			changes: []change{{watch.Added, "dev"}, {watch.Added, dupA}, {watch.Deleted, "dev"}, {watch.Deleted, dupA}, {watch.Added, "dev"}},
		},
		{
			name: "unchanged replace emits nothing, changed emits Modified",
			steps: []func(*Inventory){
				func(inv *Inventory) { inv.Replace("a", []Member{member("one", "o1", 0, "https://1")}) },
				func(inv *Inventory) { inv.Replace("a", []Member{member("one", "o1", 0, "https://1")}) },
				func(inv *Inventory) { inv.Replace("a", []Member{member("one", "o1", 0, "https://changed")}) },
			},
			want:    []string{"one"},
			changes: []change{{watch.Added, "one"}, {watch.Modified, "one"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := New()
			c, err := inv.Watch(inv.log.current())
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range tc.steps {
				step(inv)
			}
			if diff := cmp.Diff(tc.want, names(inv)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.changes, drain(t, c)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObjectMetadata(t *testing.T) {
	t.Parallel()
	inv := New()
	inv.Replace("a", []Member{member("one", "o1", 0, "https://1")})
	first, _ := inv.Get("one")
	inv2 := New()
	inv2.Replace("a", []Member{member("one", "o1", 0, "https://1")})
	second, _ := inv2.Get("one")
	if first.UID == "" || first.UID != second.UID {
		t.Errorf("UID is not deterministic: %q vs %q", first.UID, second.UID)
	}
	if first.ResourceVersion == "" || first.CreationTimestamp.IsZero() {
		t.Errorf("missing resourceVersion or creationTimestamp: %+v", first.ObjectMeta)
	}
	ready := first.Status.Conditions[0]
	if ready.Type != clusters.ConditionReady || ready.Status != "Unknown" || ready.Reason != clusters.ReasonPending {
		t.Errorf("Ready condition = %+v, want Unknown/Pending", ready)
	}
}

func TestAccessErrorAndHealth(t *testing.T) {
	t.Parallel()
	inv := New()
	m := member("one", "o1", 0, "https://1")
	m.Access.Err = &AccessError{Reason: "InvalidKubeconfig", Message: "no server"}
	inv.Replace("a", []Member{m})
	got, _ := inv.Get("one")
	if c := got.Status.Conditions[0]; c.Status != "False" || c.Reason != "InvalidKubeconfig" {
		t.Errorf("Ready = %+v, want False/InvalidKubeconfig", c)
	}

	inv.Replace("a", []Member{member("one", "o1", 0, "https://1")})
	inv.SetHealth("one", "stale-hash", Health{Checked: true, Ready: true, Reason: "Healthy"})
	got, _ = inv.Get("one")
	if c := got.Status.Conditions[0]; c.Status != "Unknown" {
		t.Errorf("health for a stale access hash was applied: %+v", c)
	}
	inv.SetHealth("one", "https://1", Health{Checked: true, Ready: true, Reason: "Healthy", Version: "v1.37.0"})
	got, _ = inv.Get("one")
	if c := got.Status.Conditions[0]; c.Status != "True" || got.Status.Version == nil || got.Status.Version.Kubernetes != "v1.37.0" {
		t.Errorf("Ready = %+v version %v, want True v1.37.0", c, got.Status.Version)
	}
}

// TestOldEventsAreDropped: events older than the log's age limit are
// dropped with their objects, so a churn of clusters long gone is not
// kept in memory; a watch from before them gets 410, one from the latest
// event still resumes.
func TestOldEventsAreDropped(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	inv := New()
	inv.log = newEventLog(1000, 100, time.Minute, clock)
	for _, n := range []string{"a", "b", "c"} {
		inv.Replace(n, []Member{member(n, n, 0, "https://"+n)})
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	inv.Replace("d", []Member{member("d", "d", 0, "https://d")})
	inv.log.trim()

	inv.log.mu.Lock()
	count, kept := inv.log.count, 0
	for _, ev := range inv.log.ring {
		if ev.Object != nil {
			kept++
		}
	}
	inv.log.mu.Unlock()
	if count != 1 || kept != 1 {
		t.Errorf("%d events and %d objects kept, want 1 and 1: the three older than a minute dropped", count, kept)
	}
	if _, err := inv.Watch("1001"); !errors.Is(err, ErrExpired) {
		t.Errorf("a watch from a dropped event: %v, want ErrExpired", err)
	}
	c, err := inv.Watch("1003")
	if err != nil {
		t.Fatalf("a watch from the event before the kept one: %v", err)
	}
	if diff := cmp.Diff([]change{{watch.Added, "d"}}, drain(t, c)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatchResourceVersions(t *testing.T) {
	t.Parallel()
	inv := New()
	inv.log = newEventLog(1000, 3, time.Hour, time.Now)
	start := inv.log.current()
	for _, n := range []string{"a", "b", "c", "d"} {
		inv.Replace(n, []Member{member(n, n, 0, "https://"+n)})
	}
	tests := []struct {
		name    string
		rv      string
		want    []change
		wantErr error
	}{
		{name: "before the log", rv: start, wantErr: ErrExpired},
		{name: "oldest kept", rv: "1001", want: []change{{watch.Added, "b"}, {watch.Added, "c"}, {watch.Added, "d"}}},
		{name: "recent", rv: "1003", want: []change{{watch.Added, "d"}}},
		{name: "current", rv: "1004"},
		{name: "from the future (another replica)", rv: "999999", wantErr: ErrExpired},
		{name: "from an older instance", rv: "5", wantErr: ErrExpired},
		{name: "garbage", rv: "abc", wantErr: ErrInvalidResourceVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := inv.Watch(tc.rv)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Watch(%q) error = %v, want %v", tc.rv, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, drain(t, c)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCursorWakesOnChange(t *testing.T) {
	t.Parallel()
	inv := New()
	c, err := inv.Watch(inv.log.current())
	if err != nil {
		t.Fatal(err)
	}
	evs, wait, err := c.Next()
	if err != nil || len(evs) != 0 || wait == nil {
		t.Fatalf("Next on an idle log = %v, %v, %v", evs, wait, err)
	}
	inv.Replace("a", []Member{member("one", "o1", 0, "https://1")})
	<-wait // closed by the change; a hang here fails the test by its timeout
	if diff := cmp.Diff([]change{{watch.Added, "one"}}, drain(t, c)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestMemberInvariants checks what the inventory enforces for every source:
// the source label from spec.source.type (whatever labels the source
// copied), no userinfo in spec.server, and a hash of its own for an access
// error, which drops the configuration that worked before.
func TestMemberInvariants(t *testing.T) {
	t.Parallel()
	inv := New()
	good := Member{Name: "a", Origin: "o", Cluster: &clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{clusters.LabelSource: "forged", "team": "x"}},
		Spec:       clusters.ClusterSpec{Server: "https://user:secret@a.example", Source: clusters.ClusterSource{Type: clusters.SourceTypeClusterProfile}},
	}, Access: Access{Config: &rest.Config{Host: "https://a.example"}, Hash: "h"}}
	inv.Replace("src", []Member{good})
	obj, _ := inv.Get("a")
	if got := obj.Labels[clusters.LabelSource]; got != "clusterprofile" || obj.Labels["team"] != "x" {
		t.Errorf("labels = %v, want the source label clusterprofile and the source's own", obj.Labels)
	}
	if obj.Spec.Server != "https://a.example" {
		t.Errorf("spec.server = %q, want no userinfo", obj.Spec.Server)
	}

	broken := good
	broken.Access = Access{Config: &rest.Config{Host: "https://a.example"}, Hash: "h", Err: &AccessError{Reason: "R", Message: "m"}}
	inv.Replace("src", []Member{broken})
	access, _ := inv.Access("a")
	if access.Hash == "h" || access.Hash == "" || access.Configured() {
		t.Errorf("an access error kept hash %q and config %v; want a hash of its own and no config", access.Hash, access.Config)
	}
	built := good
	built.Access = Access{Build: func() (*rest.Config, error) { return &rest.Config{Host: "https://a.example"}, nil }, Host: "https://a.example", Hash: "h",
		Err: &AccessError{Reason: "R", Message: "m"}}
	inv.Replace("src", []Member{built})
	if access, _ := inv.Access("a"); access.Configured() || access.Host != "" {
		t.Errorf("an access error kept a configuration to build (%v) or host %q", access.Build != nil, access.Host)
	}
	other := broken
	other.Access.Err = &AccessError{Reason: "R", Message: "other"}
	inv.Replace("src", []Member{other})
	if again, _ := inv.Access("a"); again.Hash == access.Hash {
		t.Errorf("two access errors share hash %q", again.Hash)
	}
}

// TestSourceLabelsShared checks that Clusters whose source gave no labels
// share one map of their source type's label, one map per source type,
// and that a source's own labels stay each Cluster's own.
func TestSourceLabelsShared(t *testing.T) {
	t.Parallel()
	inv := New()
	kc := func(name string) Member {
		m := member(name, "o-"+name, 0, "https://"+name)
		m.Cluster.Spec.Source.Type = clusters.SourceTypeKubeconfig
		return m
	}
	labelled := member("c", "o-c", 0, "https://c")
	labelled.Cluster.Spec.Source.Type = clusters.SourceTypeKubeconfig
	labelled.Cluster.Labels = map[string]string{clusters.LabelSource: "forged", "team": "x"}
	profile := member("d", "o-d", 0, "https://d")
	profile.Cluster.Spec.Source.Type = clusters.SourceTypeClusterProfile
	inv.Replace("src", []Member{kc("a"), kc("b"), labelled, profile})
	a, _ := inv.Get("a")
	b, _ := inv.Get("b")
	c, _ := inv.Get("c")
	d, _ := inv.Get("d")
	want := map[string]string{clusters.LabelSource: "kubeconfig"}
	if diff := cmp.Diff(want, a.Labels); diff != "" {
		t.Errorf("labels of a (-want +got):\n%s", diff)
	}
	if reflect.ValueOf(a.Labels).UnsafePointer() != reflect.ValueOf(b.Labels).UnsafePointer() {
		t.Errorf("a and b, whose source gave no labels, have a map each")
	}
	if diff := cmp.Diff(map[string]string{clusters.LabelSource: "kubeconfig", "team": "x"}, c.Labels); diff != "" {
		t.Errorf("labels of c (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{clusters.LabelSource: "clusterprofile"}, d.Labels); diff != "" {
		t.Errorf("labels of d, of another source type (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, a.Labels); diff != "" {
		t.Errorf("labels of a once d, of another source type, was built (-want +got):\n%s", diff)
	}
	if labelled.Cluster.Labels[clusters.LabelSource] != "forged" {
		t.Errorf("the source's own object was written into: %v", labelled.Cluster.Labels)
	}
}

// TestAccessesFollowsChanges checks the snapshot and its change channel:
// closed by a change of access, not by a health update.
func TestAccessesFollowsChanges(t *testing.T) {
	t.Parallel()
	inv := New()
	m := Member{Name: "a", Origin: "o", Access: Access{Config: &rest.Config{Host: "https://a"}, Hash: "h1"}}
	inv.Replace("src", []Member{m})
	accesses, changed := inv.Accesses()
	if len(accesses) != 1 || accesses["a"].Hash != "h1" {
		t.Fatalf("accesses = %v", accesses)
	}
	inv.SetHealth("a", "h1", Health{Checked: true, Ready: true, Reason: "Healthy"})
	inv.Replace("src", []Member{m}) // handed back unchanged
	select {
	case <-changed:
		t.Fatal("the channel closed without a change of access")
	default:
	}
	m.Access.Hash = "h2"
	inv.Replace("src", []Member{m})
	select {
	case <-changed:
	default:
		t.Fatal("the channel did not close when the access changed")
	}
	if accesses, _ := inv.Accesses(); accesses["a"].Hash != "h2" {
		t.Errorf("after the change: %v", accesses)
	}
}

// TestCursorsSeeEveryEventOnce: hundreds of watchers, while several
// writers replace members at once, each see every event exactly once, in
// strictly increasing resourceVersion order, with the object as it was at
// that resourceVersion.
func TestCursorsSeeEveryEventOnce(t *testing.T) {
	t.Parallel()
	inv := New()
	_, start := inv.List()
	const (
		writers   = 8
		perWriter = 250
		writes    = writers * perWriter
		readers   = 200
	)
	results := make(chan error, readers)
	for range readers {
		c, err := inv.Watch(start)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			var last uint64
			seen := map[string]bool{}
			for len(seen) < writes {
				events, wait, err := c.Next()
				if err != nil {
					results <- err
					return
				}
				for _, ev := range events {
					rv, err := ParseResourceVersion(ev.Object.ResourceVersion)
					if err != nil || rv != ev.rv || rv <= last {
						results <- fmt.Errorf("event %d: resourceVersion %s (log %d) after %d", len(seen), ev.Object.ResourceVersion, ev.rv, last)
						return
					}
					last = rv
					key := ev.Object.Name + " " + ev.Object.Spec.Server
					if seen[key] {
						results <- fmt.Errorf("event %s seen twice", key)
						return
					}
					seen[key] = true
				}
				if len(events) == 0 {
					<-wait
				}
			}
			results <- nil
		}()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			name := fmt.Sprintf("w%d", w)
			for i := range perWriter {
				host := fmt.Sprintf("https://%s-%d", name, i)
				inv.Replace(name, []Member{{Name: name, Origin: name, Cluster: &clusters.Cluster{Spec: clusters.ClusterSpec{Server: host}},
					Access: Access{Config: &rest.Config{Host: host}, Hash: host}}})
			}
		})
	}
	wg.Wait()
	for range readers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
}

// TestEventPrevious checks what an event holds of the object before it: the
// object itself when the change kept the name and the labels (a status
// change), so that the log holds no older version, and the older version
// when a selector could tell them apart.
func TestEventPrevious(t *testing.T) {
	t.Parallel()
	inv := New()
	labelled := func(team string) Member {
		m := member("a", "o", 0, "https://a")
		m.Cluster.Labels = map[string]string{"team": team}
		m.Access.Hash = "h"
		return m
	}
	_, rv := inv.List()
	c, err := inv.Watch(rv)
	if err != nil {
		t.Fatal(err)
	}
	inv.Replace("src", []Member{labelled("x")})
	inv.SetHealth("a", "h", Health{Checked: true, Ready: true, Reason: "Healthy"})
	inv.Replace("src", []Member{labelled("y")})
	evs, _, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	if evs[0].Type != watch.Added || evs[0].Previous != nil {
		t.Errorf("first event: %s with previous %v, want ADDED with none", evs[0].Type, evs[0].Previous)
	}
	if evs[1].Previous != evs[1].Object {
		t.Errorf("status change: previous is not the object itself")
	}
	if evs[2].Previous == evs[2].Object || evs[2].Previous.Labels["team"] != "x" || evs[2].Object.Labels["team"] != "y" {
		t.Errorf("label change: previous labels %v, object labels %v", evs[2].Previous.Labels, evs[2].Object.Labels)
	}
}
