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
	"maps"
	"strings"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// uidSpace namespaces the name-based UUIDs of Clusters.
var uidSpace = uuid.MustParse("3b0c5a4e-58a5-4f0c-9a52-4f9c5b0e1d7a")

// build returns the object to publish for e: the source's view with the
// inventory's metadata and the Ready condition.
func (inv *Inventory) build(e *entry) *clusters.Cluster {
	// A shallow copy of the source's view: what the inventory sets below
	// is a field of the copy's own, but for the labels, copied before they
	// are written. The rest (the source's pointers, slices and maps) is
	// shared with the source's object and every version published from
	// it, as neither the sources nor the readers of published objects
	// write them: a version held by the event log costs its struct, not a
	// deep copy.
	obj := &clusters.Cluster{}
	if e.member.Cluster != nil {
		c := *e.member.Cluster
		obj = &c
	}
	obj.Name = e.name
	// Whatever the source: a Cluster shows where its member is, never a
	// credential.
	obj.Spec.Server = StripUserinfo(obj.Spec.Server)
	// Every Cluster carries the label of its source type, whichever
	// labels its source copied: it cannot be forged or forgotten. A
	// Cluster whose source gave no labels (a kubeconfig context's) shares
	// its source type's map with every other: published objects are never
	// written, and a map of one entry per Cluster was a tenth of the heap
	// with 10,000 of them.
	if obj.Labels == nil {
		obj.Labels = inv.sourceLabels(obj.Spec.Source.Type)
	} else {
		obj.Labels = maps.Clone(obj.Labels)
		obj.Labels[clusters.LabelSource] = inv.sourceLabels(obj.Spec.Source.Type)[clusters.LabelSource]
	}
	// The UID follows from the Origin, which an entry keeps.
	if e.obj != nil {
		obj.UID = e.obj.UID
	} else {
		obj.UID = types.UID(uuid.NewSHA1(uidSpace, []byte(e.member.Origin)).String())
	}
	obj.CreationTimestamp = e.created
	obj.ResourceVersion = ""
	obj.Generation = 0
	if e.health.Version != "" {
		obj.Status.Version = &clusters.ClusterVersion{Kubernetes: e.health.Version}
	}

	ready := readyCondition(e)
	// Keep the transition time while the status does not change.
	ready.LastTransitionTime = metav1.NewTime(inv.now())
	if e.obj != nil {
		if old := meta.FindStatusCondition(e.obj.Status.Conditions, clusters.ConditionReady); old != nil && old.Status == ready.Status {
			ready.LastTransitionTime = old.LastTransitionTime
		}
	}
	conds := []metav1.Condition{ready}
	for _, c := range obj.Status.Conditions {
		if c.Type != clusters.ConditionReady {
			conds = append(conds, c)
		}
	}
	obj.Status.Conditions = conds
	return obj
}

// sourceLabels returns the labels of a Cluster of source type t whose
// source gave none, shared and not to be written; inv.mu is held.
func (inv *Inventory) sourceLabels(t clusters.SourceType) map[string]string {
	l, ok := inv.labels[t]
	if !ok {
		l = map[string]string{clusters.LabelSource: strings.ToLower(string(t))}
		if inv.labels == nil {
			inv.labels = map[clusters.SourceType]map[string]string{}
		}
		inv.labels[t] = l
	}
	return l
}

// readyCondition says whether e can be reached: an access error wins, then
// the latest health check, else Unknown until the first check.
func readyCondition(e *entry) metav1.Condition {
	switch {
	case e.member.Access.Err != nil:
		return metav1.Condition{
			Type:    clusters.ConditionReady,
			Status:  metav1.ConditionFalse,
			Reason:  e.member.Access.Err.Reason,
			Message: e.member.Access.Err.Message,
		}
	case e.health.Checked:
		status := metav1.ConditionFalse
		if e.health.Ready {
			status = metav1.ConditionTrue
		}
		return metav1.Condition{
			Type:    clusters.ConditionReady,
			Status:  status,
			Reason:  e.health.Reason,
			Message: e.health.Message,
		}
	default:
		return metav1.Condition{
			Type:    clusters.ConditionReady,
			Status:  metav1.ConditionUnknown,
			Reason:  clusters.ReasonPending,
			Message: "clusters-apiserver has not checked this cluster yet.",
		}
	}
}
