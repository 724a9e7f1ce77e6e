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
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
)

// HubREST serves Clusters from the ClusterStates that the leader publishes
// on the hub, so that every replica serves the same objects with the same
// resourceVersions. Get, list and watch are the hub's, passed through with
// their resourceVersion semantics, selectors and paging.
type HubREST struct {
	client dynamic.ResourceInterface
	resource
	tableConvertor
}

var (
	_ rest.Storage              = &HubREST{}
	_ rest.Scoper               = &HubREST{}
	_ rest.KindProvider         = &HubREST{}
	_ rest.SingularNameProvider = &HubREST{}
	_ rest.Getter               = &HubREST{}
	_ rest.Lister               = &HubREST{}
	_ rest.Watcher              = &HubREST{}
	_ rest.TableConvertor       = &HubREST{}
)

// NewHubREST returns the storage of the clusters resource read from the
// hub's ClusterStates through client.
func NewHubREST(client dynamic.ResourceInterface) *HubREST {
	return &HubREST{client: client}
}

// Get implements rest.Getter.
func (r *HubREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	if len(content.IsPathSegmentName(name)) > 0 {
		// No ClusterState can have it; client-go would refuse to ask.
		return nil, apierrors.NewNotFound(clusters.Resource("clusters"), name)
	}
	opts := metav1.GetOptions{}
	if options != nil {
		opts.ResourceVersion = options.ResourceVersion
	}
	u, err := r.client.Get(ctx, name, opts)
	if err != nil {
		return nil, hubError(err, name)
	}
	return toCluster(u)
}

// List implements rest.Lister.
func (r *HubREST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	opts, err := hubListOptions(options)
	if err != nil {
		return nil, err
	}
	ul, err := r.client.List(ctx, opts)
	if err != nil {
		return nil, hubError(err, "")
	}
	list := &clusters.ClusterList{ListMeta: metav1.ListMeta{
		ResourceVersion:    ul.GetResourceVersion(),
		Continue:           ul.GetContinue(),
		RemainingItemCount: ul.GetRemainingItemCount(),
	}}
	list.Items = make([]clusters.Cluster, 0, len(ul.Items))
	for i := range ul.Items {
		c, err := toCluster(&ul.Items[i])
		if err != nil {
			return nil, err
		}
		list.Items = append(list.Items, *c)
	}
	return list, nil
}

// Watch implements rest.Watcher.
func (r *HubREST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	opts, err := hubListOptions(options)
	if err != nil {
		return nil, err
	}
	opts.Watch = true
	w, err := r.client.Watch(ctx, opts)
	if err != nil {
		return nil, hubError(err, "")
	}
	hw := &hubWatch{in: w, out: make(chan watch.Event), done: make(chan struct{})}
	go hw.run()
	return hw, nil
}

// hubWatch turns the hub's ClusterState events into Cluster events. Unlike
// watch.Filter, it stops sending when stopped: a client that goes away
// leaves no goroutine blocked on an event nobody reads.
type hubWatch struct {
	in   watch.Interface
	out  chan watch.Event
	done chan struct{}
	once sync.Once
}

// ResultChan implements watch.Interface.
func (w *hubWatch) ResultChan() <-chan watch.Event { return w.out }

// Stop implements watch.Interface.
func (w *hubWatch) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.in.Stop()
	})
}

func (w *hubWatch) run() {
	defer close(w.out)
	defer w.in.Stop()
	for {
		select {
		case in, ok := <-w.in.ResultChan():
			if !ok {
				return
			}
			ev, ok := convertEvent(in)
			if !ok {
				continue
			}
			select {
			case w.out <- ev:
			case <-w.done:
				return
			}
		case <-w.done:
			return
		}
	}
}

// convertEvent turns one hub event into a Cluster event; false to skip it.
func convertEvent(in watch.Event) (watch.Event, bool) {
	switch in.Type {
	case watch.Added, watch.Modified, watch.Deleted:
		u, ok := in.Object.(*unstructured.Unstructured)
		if !ok {
			return in, false
		}
		c, err := toCluster(u)
		if err != nil {
			klog.ErrorS(err, "Skipping a ClusterState the hub sent that cannot be read", "name", u.GetName())
			return in, false
		}
		return watch.Event{Type: in.Type, Object: c}, true
	case watch.Bookmark:
		m, ok := in.Object.(metav1.Object)
		if !ok {
			return in, false
		}
		c := &clusters.Cluster{}
		c.ResourceVersion = m.GetResourceVersion()
		c.Annotations = m.GetAnnotations()
		return watch.Event{Type: watch.Bookmark, Object: c}, true
	default:
		// Errors carry a Status, as from any apiserver (410 Gone among them).
		return in, true
	}
}

// hubListOptions checks the selectors (only metadata.name among fields)
// and returns the options to pass to the hub.
func hubListOptions(options *metainternalversion.ListOptions) (metav1.ListOptions, error) {
	var out metav1.ListOptions
	if options == nil {
		return out, nil
	}
	if _, err := newFilter(options); err != nil {
		return out, err
	}
	if err := metainternalversion.Convert_internalversion_ListOptions_To_v1_ListOptions(options, &out, nil); err != nil {
		return out, apierrors.NewBadRequest(err.Error())
	}
	if out.ShardSelector != "" {
		// Shards would be computed on the ClusterStates' uids, not the
		// Clusters'.
		return out, apierrors.NewBadRequest("shardSelector is not supported for clusters")
	}
	return out, nil
}

// toCluster reads the Cluster a ClusterState publishes.
func toCluster(u *unstructured.Unstructured) (*clusters.Cluster, error) {
	s, err := hubstate.Decode(u)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	c, err := s.ToCluster()
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return c, nil
}

// hubError turns the hub's answer about ClusterStates into one about
// Clusters: not found, too old, too many requests and bad input mean the
// same; anything else means the shared state cannot be read now, and what
// the hub said, which names this server's identity and the hub's address,
// goes to the log only.
func hubError(err error, name string) error {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsNotFound(err) && name != "":
		return apierrors.NewNotFound(clusters.Resource("clusters"), name)
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return apierrors.NewResourceExpired("the resourceVersion asked for is too old; list again")
	case apierrors.IsTooManyRequests(err):
		return apierrors.NewTooManyRequests("the hub is busy; retry", 1)
	case apierrors.IsBadRequest(err):
		// About the caller's own input: a malformed resourceVersion or
		// selector.
		return apierrors.NewBadRequest(err.Error())
	case errors.As(err, &status) && status.Status().Code == http.StatusGatewayTimeout:
		return apierrors.NewTimeoutError("the hub did not answer in time", 1)
	}
	klog.ErrorS(err, "Cannot read the ClusterStates on the hub")
	return apierrors.NewServiceUnavailable("cannot read the clusters' shared state from the hub now; clusters-apiserver's log says why")
}
