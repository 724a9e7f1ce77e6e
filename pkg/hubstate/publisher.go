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
	"errors"
	"fmt"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// Publisher writes the inventory's Clusters to ClusterStates on the hub:
// a create, update or delete for each Cluster that changed, nothing for
// one that did not. Only the leader runs it.
type Publisher struct {
	inv           *inventory.Inventory
	client        dynamic.ResourceInterface
	synced        func() bool
	authoritative func(sourceType string) bool
	workers       int

	states cache.Store // what is published, as the hub last said; set by Run

	seenMu sync.Mutex
	seen   map[string]time.Time // when each Cluster held by holdNew was first seen
}

// NewPublisher returns a publisher of inv's Clusters through client (the
// ClusterState resource of the hub). It writes nothing until synced
// reports that every source has read its clusters, and it unpublishes a
// Cluster missing from inv only once authoritative says that the source of
// its type has read everything: a new leader whose source cannot read the
// hub yet must not unpublish the clusters it has not read.
func NewPublisher(inv *inventory.Inventory, client dynamic.ResourceInterface, synced func() bool, authoritative func(sourceType string) bool, workers int) *Publisher {
	return &Publisher{inv: inv, client: client, synced: synced, authoritative: authoritative, workers: max(workers, 1), seen: map[string]time.Time{}}
}

// resyncInterval is how often every Cluster is looked at again, for what
// no event announces: a source that has become authoritative.
var resyncInterval = 30 * time.Second

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) {
	// Retries back off per Cluster only: the default controller limiter
	// also allows 10 retries a second in all, which a cold start of
	// thousands, whose writes race with the informer, would queue behind.
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 10*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusterstates"})
	var workers sync.WaitGroup
	// Deferred calls run last first: the queue is shut down, which ends
	// the workers, and then they are waited for.
	defer workers.Wait()
	defer queue.ShutDown()

	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return p.client.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return p.client.Watch(ctx, o)
		},
	}
	informer := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, p.client), &unstructured.Unstructured{}, 0, cache.Indexers{})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		klog.ErrorS(err, "Cannot follow ClusterStates")
		return
	}
	p.states = informer.GetStore()
	go informer.RunWithContext(ctx)

	klog.InfoS("Waiting for the sources and the published ClusterStates before publishing")
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced, p.synced) {
		return
	}
	klog.InfoS("Publishing the Clusters to ClusterStates on the hub")

	for range p.workers {
		workers.Go(func() {
			for p.next(ctx, queue) {
			}
		})
	}
	p.follow(ctx, queue)
}

// follow queues every Cluster, then each one that changes, until ctx is
// done; and every Cluster again whenever the inventory's events were
// missed.
func (p *Publisher) follow(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) {
	for ctx.Err() == nil {
		objs, rv := p.inv.List()
		for _, obj := range objs {
			queue.Add(obj.Name)
		}
		for _, key := range p.states.ListKeys() {
			queue.Add(key)
		}
		cursor, err := p.inv.Watch(rv)
		if err != nil {
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		resync := time.After(resyncInterval)
	events:
		for {
			events, wait, err := cursor.Next()
			if err != nil {
				break // fell behind: everything again
			}
			for _, ev := range events {
				queue.Add(ev.Object.Name)
				if ev.Previous != nil {
					queue.Add(ev.Previous.Name)
				}
			}
			if len(events) > 0 {
				continue
			}
			select {
			case <-wait:
			case <-resync:
				break events
			case <-ctx.Done():
				return
			}
		}
	}
}

// next publishes one queued name; it returns false once the queue is
// shut down.
func (p *Publisher) next(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string]) bool {
	name, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(name)
	if wait := p.holdNew(name); wait > 0 {
		queue.AddAfter(name, wait)
		return true
	}
	if err := p.publish(ctx, name); err != nil {
		if ctx.Err() == nil {
			klog.V(2).InfoS("Publishing the Cluster's state failed; retrying", "cluster", name, "err", err)
		}
		queue.AddRateLimited(name)
		return true
	}
	queue.Forget(name)
	return true
}

// holdFirst is how long a Cluster not yet published waits for its first
// health check before it is published as Pending: a cold start of 10,000
// clusters then costs one write each, not two.
var holdFirst = 5 * time.Second

// holdNew returns how much longer to wait before publishing name: a
// Cluster not yet published whose member has not been checked yet waits,
// up to holdFirst from when this publisher first saw it.
func (p *Publisher) holdNew(name string) time.Duration {
	p.seenMu.Lock()
	defer p.seenMu.Unlock()
	local, ok := p.inv.Get(name)
	_, published, _ := p.states.GetByKey(name)
	var ready *metav1.Condition
	if ok {
		ready = meta.FindStatusCondition(local.Status.Conditions, clusters.ConditionReady)
	}
	if !ok || published || ready == nil || ready.Reason != clusters.ReasonPending {
		delete(p.seen, name)
		return 0
	}
	first, ok := p.seen[name]
	if !ok {
		first = time.Now()
		p.seen[name] = first
	}
	return time.Until(first.Add(holdFirst))
}

// publish makes the ClusterState of name match the inventory.
func (p *Publisher) publish(ctx context.Context, name string) error {
	local, ok := p.inv.Get(name)
	item, exists, err := p.states.GetByKey(name)
	if err != nil {
		return err
	}
	var pub *unstructured.Unstructured
	if exists {
		pub, _ = item.(*unstructured.Unstructured)
	}
	switch {
	case !ok && pub == nil:
		return nil
	case !ok:
		old, err := Decode(pub)
		if err != nil {
			return err
		}
		if !p.authoritative(string(old.Cluster.Spec.Source.Type)) {
			return nil // looked at again at the next resync
		}
		uid := pub.GetUID()
		err = p.client.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		wrote("delete", err)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	desired, err := FromCluster(local)
	if err != nil {
		return err
	}
	if pub != nil {
		old, err := Decode(pub)
		if err != nil {
			return err
		}
		keep(desired, old)
		u, err := desired.Encode()
		if err != nil {
			return err
		}
		if pub.GetAnnotations()[HashAnnotation] == u.GetAnnotations()[HashAnnotation] {
			return nil
		}
		u.SetResourceVersion(pub.GetResourceVersion())
		updated, err := p.client.Update(ctx, u, metav1.UpdateOptions{FieldManager: "clusters-apiserver"})
		wrote("update", err)
		return p.wrote(updated, err)
	}
	u, err := desired.Encode()
	if err != nil {
		return err
	}
	created, err := p.client.Create(ctx, u, metav1.CreateOptions{FieldManager: "clusters-apiserver"})
	wrote("create", err)
	return p.wrote(created, err)
}

// wrote puts what the hub answered to a write into the store at once, so
// that the next change of the same Cluster is written over it, not over
// the older object the informer has until the hub's event arrives (a
// conflict and a retry).
func (p *Publisher) wrote(obj *unstructured.Unstructured, err error) error {
	if err != nil {
		return err
	}
	return p.states.Update(obj)
}

// keep carries over from the published state what a new leader, or a new
// check, has no reason to change: the creation time; each condition's
// transition time while its status stays; and, until this replica has
// checked the member itself, the Ready condition and version of the same
// member as published.
func keep(desired, old *State) {
	d, o := &desired.Cluster, &old.Cluster
	if !o.CreationTimestamp.IsZero() {
		d.CreationTimestamp = o.CreationTimestamp
	}
	ready := meta.FindStatusCondition(d.Status.Conditions, clusters.ConditionReady)
	if ready != nil && ready.Reason == clusters.ReasonPending && apiequality.Semantic.DeepEqual(d.Spec, o.Spec) {
		if was := meta.FindStatusCondition(o.Status.Conditions, clusters.ConditionReady); was != nil {
			*ready = *was
		}
		if d.Status.Version == nil {
			d.Status.Version = o.Status.Version
		}
	}
	for i := range d.Status.Conditions {
		c := &d.Status.Conditions[i]
		if was := meta.FindStatusCondition(o.Status.Conditions, c.Type); was != nil && was.Status == c.Status {
			c.LastTransitionTime = was.LastTransitionTime
		}
	}
}

// ErrNoCRD says the hub does not serve ClusterStates.
var ErrNoCRD = errors.New("the hub does not serve " + Resource.GroupResource().String() + ": apply artifacts/deploy/08-clusterstate-crd.yaml")

// Check tells whether the hub serves ClusterStates to this server.
func Check(ctx context.Context, client dynamic.ResourceInterface) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := client.List(ctx, metav1.ListOptions{Limit: 1})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return ErrNoCRD
	default:
		return fmt.Errorf("listing %s on the hub: %w", Resource.GroupResource(), err)
	}
}
