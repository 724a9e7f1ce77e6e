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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// filter matches Clusters against the label and field selectors of a
// request. The only field is metadata.name.
type filter struct {
	label labels.Selector
	field fields.Selector
}

func newFilter(options *metainternalversion.ListOptions) (filter, error) {
	f := filter{label: labels.Everything(), field: fields.Everything()}
	if options == nil {
		return f, nil
	}
	if options.LabelSelector != nil {
		f.label = options.LabelSelector
	}
	if options.FieldSelector != nil {
		for _, r := range options.FieldSelector.Requirements() {
			if r.Field != "metadata.name" {
				return f, apierrors.NewBadRequest("field selector " + r.Field + " is not supported: clusters can only be selected by metadata.name")
			}
		}
		f.field = options.FieldSelector
	}
	return f, nil
}

func (f filter) matches(c *clusters.Cluster) bool {
	if c == nil {
		return false
	}
	return f.label.Matches(labels.Set(c.Labels)) &&
		f.field.Matches(fields.Set{"metadata.name": c.Name})
}

func (f filter) everything() bool {
	return f.label.Empty() && f.field.Empty()
}
