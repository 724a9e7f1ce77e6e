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
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// defaultLogSize is how many events the inventory keeps for watches that
// resume from a resourceVersion. A watch that falls further behind gets
// 410 Gone and its client relists.
const defaultLogSize = 10000

// defaultLogMaxAge is how long an event is kept. Events hold their
// objects, so a log full of the deletions of a churn would otherwise hold
// thousands of objects of clusters long gone; kube-apiserver's watch cache
// keeps 75 seconds of events at least, and so does this, with room to
// spare. A watch that resumes from older than that gets 410 Gone.
const defaultLogMaxAge = 2 * time.Minute

var (
	// ErrExpired is returned for a resourceVersion whose events are no
	// longer (or were never) in this inventory's log.
	ErrExpired = errors.New("resourceVersion is too old or from another server instance")
	// ErrInvalidResourceVersion is returned for a resourceVersion that is
	// not a number.
	ErrInvalidResourceVersion = errors.New("resourceVersion is not valid")
)

// Event is one change of the inventory.
type Event struct {
	// Type is Added, Modified or Deleted.
	Type watch.EventType
	// Object is the object after the change; for Deleted, the last state.
	// It is shared and must not be modified.
	Object *clusters.Cluster
	// Previous is the object before the change (nil for Added), so that
	// filtered watches can turn a change in or out of their selector into
	// an Added or Deleted event. When the change kept the name and the
	// labels, all that a selector sees, it is Object itself: the log does
	// not keep the last version of every Cluster whose status changed.
	Previous *clusters.Cluster

	rv uint64
	at time.Time // when it was appended
}

// eventLog is a ring of the latest events, ordered by resourceVersion.
type eventLog struct {
	mu     sync.Mutex
	base   uint64 // resourceVersion before the first event
	last   uint64 // resourceVersion of the latest event
	ring   []Event
	head   int // index of the oldest event in ring
	count  int
	notify chan struct{} // closed at the next append; nil when nobody waits

	maxAge time.Duration
	now    func() time.Time
	timer  *time.Timer // trims the log when its oldest event expires; nil when empty
}

func newEventLog(base uint64, size int, maxAge time.Duration, now func() time.Time) *eventLog {
	return &eventLog{base: base, last: base, ring: make([]Event, size), maxAge: maxAge, now: now}
}

// next returns the resourceVersion of the event about to be appended. The
// caller holds the inventory's write lock, which orders next/append pairs;
// the log's last resourceVersion moves only in append, together with the
// event, so a cursor never sees a resourceVersion without its event.
func (l *eventLog) next() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strconv.FormatUint(l.last+1, 10)
}

// append records ev with the resourceVersion next returned and wakes every
// waiting cursor.
func (l *eventLog) append(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last++
	ev.rv = l.last
	ev.at = l.now()
	if l.count < len(l.ring) {
		l.ring[(l.head+l.count)%len(l.ring)] = ev
		l.count++
	} else {
		l.ring[l.head] = ev
		l.head = (l.head + 1) % len(l.ring)
	}
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(l.maxAge, l.trim)
	}
}

// trim drops the events older than maxAge, releasing their objects, and
// sets the timer for the next one to expire.
func (l *eventLog) trim() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for l.count > 0 && now.Sub(l.ring[l.head].at) >= l.maxAge {
		l.ring[l.head] = Event{}
		l.head = (l.head + 1) % len(l.ring)
		l.count--
	}
	if l.count == 0 {
		l.timer = nil
		return
	}
	l.timer = time.AfterFunc(l.maxAge-now.Sub(l.ring[l.head].at), l.trim)
}

func (l *eventLog) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strconv.FormatUint(l.last, 10)
}

// after returns the events with a resourceVersion above rv, or a channel
// closed at the next append when there are none yet.
func (l *eventLog) after(rv uint64) ([]Event, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	oldest := l.last - uint64(l.count) //nolint:gosec // count is a length, never negative; the events after oldest are kept
	if rv > l.last || rv < oldest || rv < l.base {
		return nil, nil, ErrExpired
	}
	if rv == l.last {
		if l.notify == nil {
			l.notify = make(chan struct{})
		}
		return nil, l.notify, nil
	}
	n := int(l.last - rv) //nolint:gosec // at most count, checked above
	out := make([]Event, 0, n)
	for i := l.count - n; i < l.count; i++ {
		out = append(out, l.ring[(l.head+i)%len(l.ring)])
	}
	return out, nil, nil
}

// ParseResourceVersion parses a resourceVersion handed out by an inventory.
func ParseResourceVersion(s string) (uint64, error) {
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrInvalidResourceVersion
	}
	return rv, nil
}
