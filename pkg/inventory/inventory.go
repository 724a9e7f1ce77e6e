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

// Package inventory holds the in-memory set of member clusters that the
// sources report, with their access configuration, and the resourceVersion
// ordered log of changes that list and watch are served from. Sources write
// to it; the registry and the proxy read from it.
package inventory

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// Inventory is the set of member clusters known to this server. It is safe
// for concurrent use.
type Inventory struct {
	mu sync.RWMutex
	// owners maps a source-chosen owner key (for example one kubeconfig
	// file) to the members it reported, by origin.
	owners map[string]map[string]*entry
	// groups maps a proposed name to every member proposing it.
	groups map[string][]*entry
	// byName maps an assigned object name to its member.
	byName map[string]*entry
	// sorted caches the objects ordered by name; nil when stale.
	sorted []*clusters.Cluster

	log *eventLog
	now func() time.Time
	// labels are the labels of Clusters whose source gave none, one map
	// per source type (see sourceLabels).
	labels map[clusters.SourceType]map[string]string

	// changedMu guards changed, which is closed at the next change of
	// the members or their access configurations; nil when nobody waits.
	changedMu sync.Mutex
	changed   chan struct{}
}

// entry is one member with its assigned name and published object.
type entry struct {
	member  Member
	name    string            // assigned object name; "" until assigned
	obj     *clusters.Cluster // published, immutable; nil until published
	created metav1.Time
	health  Health
}

// New returns an empty inventory whose resourceVersions start at a value
// derived from the current time, so that a resourceVersion handed out by
// another replica or an earlier run of this server is never mistaken for one
// of this inventory's (it gets 410 Gone and clients relist).
func New() *Inventory {
	now := time.Now
	return &Inventory{
		owners: map[string]map[string]*entry{},
		groups: map[string][]*entry{},
		byName: map[string]*entry{},
		log:    newEventLog(uint64(now().UnixMilli())*1_000_000, defaultLogSize, defaultLogMaxAge, now),
		now:    now,
	}
}

// Replace sets the complete list of members reported under owner, replacing
// what that owner reported before, and emits watch events for the
// differences. An empty list removes the owner's members. URL userinfo in
// access error messages is redacted here, for every source. A member handed
// back with the same Cluster pointer, name and access hash as before costs
// nothing, so sources can replace large lists after small changes; a
// member's Cluster is never written once handed over (see Member.Cluster).
func (inv *Inventory) Replace(owner string, members []Member) {
	inv.mu.Lock()
	defer inv.mu.Unlock()

	old := inv.owners[owner]
	next := make(map[string]*entry, len(members))
	affected := map[string]bool{}
	for i := range members {
		m := members[i]
		if m.Access.Err != nil {
			if msg := Redact(m.Access.Err.Message); msg != m.Access.Err.Message {
				m.Access.Err = &AccessError{Reason: m.Access.Err.Reason, Message: msg}
			}
			// An access error implies a hash of its own, whatever the
			// source set, so the transport of the configuration that
			// worked before is dropped.
			m.Access.Config, m.Access.Build, m.Access.Host = nil, nil, ""
			m.Access.Hash = errorHash(m.Access.Err)
		}
		e, ok := old[m.Origin]
		if ok && e.member.Name == m.Name && e.member.Cluster == m.Cluster && e.member.Access.Hash == m.Access.Hash {
			// Handed back unchanged (the same object): nothing to redo.
			e.member = m
			next[m.Origin] = e
			continue
		}
		if !ok {
			e = &entry{created: metav1.NewTime(inv.now())}
			if m.Cluster != nil && !m.Cluster.CreationTimestamp.IsZero() {
				e.created = m.Cluster.CreationTimestamp
			}
		} else if e.member.Name != m.Name {
			inv.leaveGroup(e)
			affected[e.member.Name] = true
		}
		if !ok || e.member.Name != m.Name {
			inv.groups[m.Name] = append(inv.groups[m.Name], e)
		}
		if ok && e.member.Access.Hash != m.Access.Hash {
			// A new access configuration invalidates what was probed with the old one.
			e.health = Health{}
		}
		e.member = m
		next[m.Origin] = e
		affected[m.Name] = true
	}
	for origin, e := range old {
		if _, ok := next[origin]; !ok {
			inv.leaveGroup(e)
			affected[e.member.Name] = true
			inv.unpublish(e)
		}
	}
	if len(next) == 0 {
		delete(inv.owners, owner)
	} else {
		inv.owners[owner] = next
	}

	if len(affected) > 0 {
		inv.accessChanged()
	}

	// Reassign names in the touched groups, then publish every member of
	// those groups: those whose object did not change emit nothing.
	// In name order, so events come in the same order on every replica.
	var touched []*entry
	for _, name := range slices.Sorted(maps.Keys(affected)) {
		touched = append(touched, inv.assignNames(name)...)
	}
	for _, e := range touched {
		inv.publish(e)
	}
}

// orderOf is m's sort key among members of its priority.
func orderOf(m *Member) string {
	if m.Order != "" {
		return m.Order
	}
	return m.Origin
}

// leaveGroup removes e from the group of the name it proposes.
func (inv *Inventory) leaveGroup(e *entry) {
	g := inv.groups[e.member.Name]
	for i, x := range g {
		if x == e {
			g = append(g[:i], g[i+1:]...)
			break
		}
	}
	if len(g) == 0 {
		delete(inv.groups, e.member.Name)
	} else {
		inv.groups[e.member.Name] = g
	}
}

// assignNames orders the members proposing name and assigns their object
// names: the first keeps name, the others get a suffix derived from their
// origin. It returns the group's members.
func (inv *Inventory) assignNames(name string) []*entry {
	g := inv.groups[name]
	sort.Slice(g, func(i, j int) bool {
		a, b := &g[i].member, &g[j].member
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if oa, ob := orderOf(a), orderOf(b); oa != ob {
			return oa < ob
		}
		return a.Origin < b.Origin
	})
	for i, e := range g {
		e.name = name
		if i > 0 {
			e.name = withSuffix(name, shortHash(e.member.Origin))
			klog.InfoS("Two sources propose the same cluster name; serving both under distinct names",
				"proposedName", name, "keptBy", g[0].member.Origin, "origin", e.member.Origin, "name", e.name)
		}
	}
	return g
}

// publish builds e's object and, when it differs from the published one,
// records the change. A renamed member is deleted under its old name and
// added under its new one.
func (inv *Inventory) publish(e *entry) {
	if e.obj != nil && e.obj.Name != e.name {
		inv.unpublish(e)
	}
	if other, ok := inv.byName[e.name]; ok && other != e {
		if other.name == e.name {
			// Only possible when a hashed suffix equals another proposed
			// name; keep serving the one that has it.
			klog.ErrorS(nil, "Cluster name is claimed twice; not serving the second member",
				"name", e.name, "servedOrigin", other.member.Origin, "origin", e.member.Origin)
			return
		}
		// The holder is being renamed in this same pass and will release
		// the name: take it over.
		inv.unpublish(other)
	}
	obj := inv.build(e)
	if e.obj != nil && apiequality.Semantic.DeepEqual(withoutRV(e.obj), withoutRV(obj)) {
		return
	}
	typ := watch.Modified
	if e.obj == nil {
		typ = watch.Added
	}
	obj.ResourceVersion = inv.log.next()
	prev := e.obj
	if prev != nil && prev.Name == obj.Name && maps.Equal(prev.Labels, obj.Labels) {
		prev = obj // see Event.Previous
	}
	e.obj = obj
	inv.byName[e.name] = e
	inv.sorted = nil
	inv.log.append(Event{Type: typ, Object: obj, Previous: prev})
}

// unpublish removes e's object, if published, and records its deletion.
func (inv *Inventory) unpublish(e *entry) {
	if e.obj == nil {
		return
	}
	if inv.byName[e.obj.Name] == e {
		delete(inv.byName, e.obj.Name)
	}
	gone := e.obj.DeepCopy()
	gone.ResourceVersion = inv.log.next()
	e.obj = nil
	inv.sorted = nil
	inv.log.append(Event{Type: watch.Deleted, Object: gone, Previous: gone})
}

func withoutRV(c *clusters.Cluster) *clusters.Cluster {
	c = c.DeepCopy()
	c.ResourceVersion = ""
	return c
}

// Get returns the published object named name. The object is shared and
// must not be modified.
func (inv *Inventory) Get(name string) (*clusters.Cluster, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	e, ok := inv.byName[name]
	if !ok || e.obj == nil {
		return nil, false
	}
	return e.obj, true
}

// Access returns the access configuration of the member named name.
func (inv *Inventory) Access(name string) (Access, bool) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	e, ok := inv.byName[name]
	if !ok {
		return Access{}, false
	}
	return e.member.Access, true
}

// List returns every published object sorted by name and the
// resourceVersion of the inventory they were read at. The objects are
// shared and must not be modified.
func (inv *Inventory) List() ([]*clusters.Cluster, string) {
	inv.mu.RLock()
	if inv.sorted != nil {
		defer inv.mu.RUnlock()
		return inv.sorted, inv.log.current()
	}
	inv.mu.RUnlock()

	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.sorted == nil {
		sorted := make([]*clusters.Cluster, 0, len(inv.byName))
		for _, e := range inv.byName {
			sorted = append(sorted, e.obj)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
		inv.sorted = sorted
	}
	return inv.sorted, inv.log.current()
}

// Accesses returns the access configuration of every member by object
// name, read at one instant, and a channel that is closed at the next change
// of the members or of their access configurations (not of their health).
// It is for background work that follows every member, like health checks,
// instead of a List and an Access call per member.
func (inv *Inventory) Accesses() (map[string]Access, <-chan struct{}) {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	out := make(map[string]Access, len(inv.byName))
	for name, e := range inv.byName {
		out[name] = e.member.Access
	}
	return out, inv.changes()
}

// AccessChanged returns a channel that is closed at the next change of the
// members or of their access configurations.
func (inv *Inventory) AccessChanged() <-chan struct{} {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return inv.changes()
}

// changes returns the channel closed at the next change. The caller holds
// inv.mu, for reading at least, so no change can slip in between what it
// read and the channel.
func (inv *Inventory) changes() <-chan struct{} {
	inv.changedMu.Lock()
	defer inv.changedMu.Unlock()
	if inv.changed == nil {
		inv.changed = make(chan struct{})
	}
	return inv.changed
}

// accessChanged wakes whoever waits for a change. The caller holds inv.mu
// for writing.
func (inv *Inventory) accessChanged() {
	inv.changedMu.Lock()
	defer inv.changedMu.Unlock()
	if inv.changed != nil {
		close(inv.changed)
		inv.changed = nil
	}
}

// ResourceVersion returns the resourceVersion of the inventory now: List
// called after it returns objects at least as new.
func (inv *Inventory) ResourceVersion() string {
	return inv.log.current()
}

// Len returns the number of published members.
func (inv *Inventory) Len() int {
	inv.mu.RLock()
	defer inv.mu.RUnlock()
	return len(inv.byName)
}
