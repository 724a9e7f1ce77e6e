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
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// bookmarkInterval is how often a watch that asked for bookmarks gets one.
var bookmarkInterval = time.Minute

// clusterWatch streams inventory events to one client.
type clusterWatch struct {
	result   chan watch.Event
	done     chan struct{}
	stopOnce sync.Once
}

var _ watch.Interface = &clusterWatch{}

// newWatch starts a watch with the semantics of an etcd-backed resource:
//
//   - sendInitialEvents=true: the current objects as ADDED, then a bookmark
//     annotated k8s.io/initial-events-end, then changes (the streaming list
//     client-go informers use);
//   - resourceVersion "" or "0": the current objects as ADDED, then changes;
//   - any other resourceVersion: the changes after it, or 410 Gone when it
//     is too old or was handed out by another server instance.
//
// Changes that move an object into or out of the selectors arrive as ADDED
// or DELETED. With allowWatchBookmarks, a bookmark is sent every
// bookmarkInterval.
func newWatch(ctx context.Context, inv *inventory.Inventory, cache *encodeCache, options *metainternalversion.ListOptions, f filter) (watch.Interface, error) {
	rv := options.ResourceVersion
	initial := rv == "" || rv == "0"
	sendInitial := options.SendInitialEvents != nil && *options.SendInitialEvents
	var objs []*clusters.Cluster
	if initial || sendInitial {
		objs, rv = inv.List()
	}
	cursor, err := inv.Watch(rv)
	switch {
	case errors.Is(err, inventory.ErrExpired):
		return nil, apierrors.NewResourceExpired("resourceVersion " + rv + " is too old or was handed out by another clusters-apiserver instance; list again")
	case errors.Is(err, inventory.ErrInvalidResourceVersion):
		return nil, apierrors.NewBadRequest("invalid resourceVersion " + rv)
	case err != nil:
		return nil, apierrors.NewInternalError(err)
	}

	w := &clusterWatch{result: make(chan watch.Event), done: make(chan struct{})}
	go w.run(ctx, cursor, cache, objs, sendInitial, options.AllowWatchBookmarks, f)
	return w, nil
}

// ResultChan implements watch.Interface.
func (w *clusterWatch) ResultChan() <-chan watch.Event { return w.result }

// Stop implements watch.Interface.
func (w *clusterWatch) Stop() { w.stopOnce.Do(func() { close(w.done) }) }

func (w *clusterWatch) run(ctx context.Context, cursor *inventory.Cursor, cache *encodeCache, initial []*clusters.Cluster, sendInitial, bookmarks bool, f filter) {
	defer close(w.result)
	for _, obj := range initial {
		if f.matches(obj) && !w.send(ctx, watch.Event{Type: watch.Added, Object: shallow(obj)}) {
			return
		}
	}
	// The generic server turns a legacy watch (resourceVersion "" or "0")
	// into sendInitialEvents=true; like the watch cache, mark the end of
	// the initial events only for clients that accept bookmarks.
	if sendInitial && bookmarks && !w.send(ctx, bookmark(cursor.ResourceVersion(), true)) {
		return
	}

	var tick <-chan time.Time
	if bookmarks {
		ticker := time.NewTicker(bookmarkInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		events, wait, err := cursor.Next()
		if err != nil {
			// The client fell behind the event log; it resumes with a new
			// watch from its last resourceVersion and gets 410 if needed.
			status := apierrors.NewResourceExpired("the watch fell behind the server's event log; list again").Status()
			w.send(ctx, watch.Event{Type: watch.Error, Object: &status})
			return
		}
		for _, ev := range events {
			if out, ok := filtered(ev, f, cache); ok && !w.send(ctx, out) {
				return
			}
		}
		if wait == nil {
			continue
		}
		select {
		case <-wait:
		case <-tick:
			if !w.send(ctx, bookmark(cursor.ResourceVersion(), false)) {
				return
			}
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// send delivers ev unless the watch ends first.
func (w *clusterWatch) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	case <-ctx.Done():
		return false
	}
}

// filtered turns an inventory event into what a client with selector f
// sees: a change into the selection is ADDED, out of it DELETED. The
// object is the event's own, from cache, wherever the client sees it as
// it is, so that all watchers share its encoding (the encoder tells
// event types apart).
func filtered(ev inventory.Event, f filter, cache *encodeCache) (watch.Event, bool) {
	if f.everything() {
		return watch.Event{Type: ev.Type, Object: cache.get(ev.Object)}, true
	}
	now, before := f.matches(ev.Object), f.matches(ev.Previous)
	switch {
	case ev.Type == watch.Deleted && now:
		return watch.Event{Type: watch.Deleted, Object: cache.get(ev.Object)}, true
	case ev.Type == watch.Deleted:
		return watch.Event{}, false
	case now && before:
		return watch.Event{Type: watch.Modified, Object: cache.get(ev.Object)}, true
	case now:
		return watch.Event{Type: watch.Added, Object: cache.get(ev.Object)}, true
	case before:
		// The object left the selection: the client sees its last state
		// that matched, at the new resourceVersion.
		gone := ev.Previous.DeepCopy()
		gone.ResourceVersion = ev.Object.ResourceVersion
		return watch.Event{Type: watch.Deleted, Object: gone}, true
	}
	return watch.Event{}, false
}

// shallow copies the top level of a published object for one client. The
// encoder sets the copy's TypeMeta; everything below it is shared and only
// read, so a full deep copy per watcher and event is not needed.
func shallow(c *clusters.Cluster) *clusters.Cluster {
	out := *c
	return &out
}

// bookmark returns a BOOKMARK event at rv; initialEnd marks the end of the
// initial events of a streaming list.
func bookmark(rv string, initialEnd bool) watch.Event {
	obj := &clusters.Cluster{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}}
	if initialEnd {
		obj.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return watch.Event{Type: watch.Bookmark, Object: obj}
}
