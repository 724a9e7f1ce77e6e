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

package cluster

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/install"
	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

func member(name, env string) inventory.Member {
	return inventory.Member{
		Name:   name,
		Origin: "test:" + name,
		Cluster: &clusters.Cluster{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"env": env}},
			Spec:       clusters.ClusterSpec{Server: "https://" + name},
		},
		Access: inventory.Access{Hash: name},
	}
}

// next reads one event from w or fails after a deadline.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event")
		return watch.Event{}
	}
}

// object returns the Cluster of ev, from its cachedObject if it has one.
func object(ev watch.Event) *clusters.Cluster {
	if co, ok := ev.Object.(runtime.CacheableObject); ok {
		return co.GetObject().(*clusters.Cluster)
	}
	return ev.Object.(*clusters.Cluster)
}

func describe(ev watch.Event) string {
	c := object(ev)
	if ev.Type == watch.Bookmark {
		return "BOOKMARK " + c.Annotations[metav1.InitialEventsAnnotationKey]
	}
	return string(ev.Type) + " " + c.Name
}

func TestWatchSemantics(t *testing.T) {
	t.Parallel()
	yes := true
	prod := labels.SelectorFromSet(labels.Set{"env": "prod"})
	tests := []struct {
		name    string
		options func(rv string) *metainternalversion.ListOptions
		change  func(inv *inventory.Inventory)
		want    []string
	}{
		{
			name: "legacy watch from 0: initial ADDED, then changes",
			options: func(string) *metainternalversion.ListOptions {
				return &metainternalversion.ListOptions{ResourceVersion: "0"}
			},
			change: func(inv *inventory.Inventory) { inv.Replace("c", []inventory.Member{member("c", "prod")}) },
			want:   []string{"ADDED a", "ADDED b", "ADDED c"},
		},
		{
			name: "streaming list: initial events, then the end bookmark",
			options: func(string) *metainternalversion.ListOptions {
				return &metainternalversion.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}
			},
			change: func(inv *inventory.Inventory) { inv.Replace("a", nil) },
			want:   []string{"ADDED a", "ADDED b", "BOOKMARK true", "DELETED a"},
		},
		{
			name: "from a resourceVersion: only later changes",
			options: func(rv string) *metainternalversion.ListOptions {
				return &metainternalversion.ListOptions{ResourceVersion: rv}
			},
			change: func(inv *inventory.Inventory) { inv.Replace("b", []inventory.Member{member("b", "dev")}) },
			want:   []string{"MODIFIED b"},
		},
		{
			name: "label selector: moving in is ADDED, out is DELETED",
			options: func(rv string) *metainternalversion.ListOptions {
				return &metainternalversion.ListOptions{ResourceVersion: rv, LabelSelector: prod}
			},
			change: func(inv *inventory.Inventory) {
				inv.Replace("a", []inventory.Member{member("a", "dev")})  // out
				inv.Replace("b", []inventory.Member{member("b", "prod")}) // in
				inv.Replace("b", []inventory.Member{member("b", "prod")}) // no change
				inv.Replace("c", []inventory.Member{member("c", "dev")})  // never in
			},
			want: []string{"DELETED a", "ADDED b"},
		},
		{
			// A change that keeps the labels has the object itself for its
			// previous version (see inventory.Event.Previous).
			name: "label selector: a status change is MODIFIED inside the selection, nothing outside",
			options: func(rv string) *metainternalversion.ListOptions {
				return &metainternalversion.ListOptions{ResourceVersion: rv, LabelSelector: prod}
			},
			change: func(inv *inventory.Inventory) {
				inv.SetHealth("b", "b", inventory.Health{Checked: true, Ready: true, Reason: "Healthy"}) // never in
				inv.SetHealth("a", "a", inventory.Health{Checked: true, Ready: true, Reason: "Healthy"})
				inv.Replace("a", []inventory.Member{member("a", "dev")}) // out
			},
			want: []string{"MODIFIED a", "DELETED a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := inventory.New()
			inv.Replace("a", []inventory.Member{member("a", "prod")})
			inv.Replace("b", []inventory.Member{member("b", "staging")})
			_, rv := inv.List()
			r := NewREST(inv)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w, err := r.Watch(ctx, tc.options(rv))
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()
			tc.change(inv)
			var got []string
			for range tc.want {
				got = append(got, describe(next(t, w)))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchBookmarks(t *testing.T) { // not parallel: it shortens the package's bookmark interval
	old := bookmarkInterval
	bookmarkInterval = 10 * time.Millisecond
	defer func() { bookmarkInterval = old }()
	inv := inventory.New()
	_, rv := inv.List()
	w, err := NewREST(inv).Watch(t.Context(), &metainternalversion.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := next(t, w)
	if ev.Type != watch.Bookmark || object(ev).ResourceVersion != rv {
		t.Errorf("got %s at %s, want a bookmark at %s", ev.Type, object(ev).ResourceVersion, rv)
	}
}

func TestWatchStopEndsTheStream(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	w, err := NewREST(inv).Watch(t.Context(), &metainternalversion.ListOptions{ResourceVersion: "0"})
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Errorf("event after Stop")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("result channel not closed after Stop")
	}
}

// TestWatchersShareEncodings: every watch of one change hands the encoder
// the same cachedObject, which encodes once per encoder identifier (the
// generic watch encoder's include the event type) and gives the bytes the
// object encodes to on its own, without touching the shared object.
func TestWatchersShareEncodings(t *testing.T) {
	t.Parallel()
	inv := inventory.New()
	inv.Replace("a", []inventory.Member{member("a", "prod")})
	_, rv := inv.List()
	r := NewREST(inv)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var ws []watch.Interface
	for range 3 {
		w, err := r.Watch(ctx, &metainternalversion.ListOptions{ResourceVersion: rv})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		ws = append(ws, w)
	}
	inv.Replace("a", []inventory.Member{member("a", "staging")})
	var seen []*cachedObject
	for _, w := range ws {
		ev := next(t, w)
		co, ok := ev.Object.(*cachedObject)
		if !ok || ev.Type != watch.Modified {
			t.Fatalf("got %s %T, want MODIFIED of a *cachedObject", ev.Type, ev.Object)
		}
		seen = append(seen, co)
	}
	if seen[0] != seen[1] || seen[1] != seen[2] {
		t.Fatal("the watches got different objects for one change")
	}

	scheme := runtime.NewScheme()
	install.Install(scheme)
	codec := serializer.NewCodecFactory(scheme).LegacyCodec(clustersv1alpha1.SchemeGroupVersion)
	want, err := runtime.Encode(codec, seen[0].GetObject())
	if err != nil {
		t.Fatal(err)
	}
	encodes := 0
	encode := func(obj runtime.Object, w io.Writer) error {
		encodes++
		return codec.Encode(obj, w)
	}
	for range 3 {
		var buf bytes.Buffer
		if err := seen[0].CacheEncode("json", encode, &buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("cached encoding %s, want %s", buf.Bytes(), want)
		}
	}
	if encodes != 1 {
		t.Errorf("encoded %d times, want once", encodes)
	}
	if c := seen[0].obj; c.Kind != "" || c.APIVersion != "" {
		t.Errorf("encoding set the shared object's TypeMeta: %+v", c.TypeMeta)
	}
}
