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

// Package cluster serves the clusters resource from the inventory: get,
// list and watch of virtual objects that are never stored.
package cluster

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// REST serves Clusters from an inventory. It implements only the read
// verbs: the API server answers every other verb with 405 Method Not Allowed.
type REST struct {
	inv *inventory.Inventory
	// watchCache shares the encodings of the latest events between watches.
	watchCache encodeCache
	resource
	tableConvertor
}

var (
	_ rest.Storage              = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.KindProvider         = &REST{}
	_ rest.SingularNameProvider = &REST{}
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Watcher              = &REST{}
	_ rest.TableConvertor       = &REST{}
)

// NewREST returns the storage of the clusters resource.
func NewREST(inv *inventory.Inventory) *REST {
	return &REST{inv: inv}
}

// resource is what both storages of Clusters say of the resource.
type resource struct{}

// New implements rest.Storage.
func (resource) New() runtime.Object { return &clusters.Cluster{} }

// Destroy implements rest.Storage. What the storage reads outlives it.
func (resource) Destroy() {}

// NamespaceScoped implements rest.Scoper: Clusters are cluster-scoped.
func (resource) NamespaceScoped() bool { return false }

// Kind implements rest.KindProvider.
func (resource) Kind() string { return "Cluster" }

// GetSingularName implements rest.SingularNameProvider.
func (resource) GetSingularName() string { return "cluster" }

// NewList implements rest.Lister.
func (resource) NewList() runtime.Object { return &clusters.ClusterList{} }

// Get implements rest.Getter.
func (r *REST) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	obj, ok := r.inv.Get(name)
	if !ok {
		return nil, apierrors.NewNotFound(clusters.Resource("clusters"), name)
	}
	return obj.DeepCopy(), nil
}

// List implements rest.Lister. It serves the inventory's current state
// whatever resourceVersion is asked for (it is never older than any
// resourceVersion this server handed out), filtered by label and field
// selectors and sorted by name. limit is not honoured: the whole list is
// returned in one page, as the API conventions allow.
func (r *REST) List(_ context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	f, err := newFilter(options)
	if err != nil {
		return nil, err
	}
	objs, rv := r.inv.List()
	list := &clusters.ClusterList{ListMeta: metav1.ListMeta{ResourceVersion: rv}}
	list.Items = make([]clusters.Cluster, 0, len(objs))
	for _, obj := range objs {
		if f.matches(obj) {
			// A shallow copy: the encoder sets the item's TypeMeta and only
			// reads what lies below it (see shallow in watch.go).
			list.Items = append(list.Items, *obj)
		}
	}
	return list, nil
}

// Watch implements rest.Watcher; see newWatch for the resourceVersion rules.
func (r *REST) Watch(ctx context.Context, options *metainternalversion.ListOptions) (watch.Interface, error) {
	f, err := newFilter(options)
	if err != nil {
		return nil, err
	}
	return newWatch(ctx, r.inv, &r.watchCache, options, f)
}
