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

// Package hubstate keeps the public state of every Cluster in objects on
// the hub, so that every replica of clusters-apiserver serves the same
// objects with the same resourceVersions: the hub's. One elected replica
// (the leader) checks the members' health and publishes; every replica
// serves the Cluster API from what is published.
//
// A ClusterState (internal.clusters.headlamp.dev/v1alpha1, cluster-scoped)
// has the name, labels and annotations of its Cluster, and under
// "cluster" the rest of what the Cluster API shows: uid,
// creationTimestamp, spec and status. It never holds access
// configuration or a credential: it is built from the Cluster object
// that the API serves, which never has them.
package hubstate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
)

// Group is the API group of ClusterStates.
const Group = "internal.clusters.headlamp.dev"

// Resource is the ClusterState resource on the hub.
var Resource = schema.GroupVersionResource{Group: Group, Version: "v1alpha1", Resource: "clusterstates"}

// Kind is the kind of a ClusterState.
const Kind = "ClusterState"

// HashAnnotation holds a hash of what the leader published in a
// ClusterState. The leader compares it, not the object, with what it would
// publish: labels or annotations that the hub's admission adds (policy
// engines do) must not make it write again and again.
const HashAnnotation = Group + "/content-hash"

// State is a ClusterState as this server reads and writes it.
type State struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Cluster           Cluster `json:"cluster"`
}

// Cluster is what a ClusterState keeps of its Cluster besides the name,
// labels and annotations of its metadata.
type Cluster struct {
	UID               types.UID              `json:"uid"`
	CreationTimestamp metav1.Time            `json:"creationTimestamp"`
	Spec              v1alpha1.ClusterSpec   `json:"spec"`
	Status            v1alpha1.ClusterStatus `json:"status"`
}

// FromCluster returns the ClusterState that publishes c. Its metadata has
// only the name, labels and annotations.
func FromCluster(c *clusters.Cluster) (*State, error) {
	// The conversion shares c's slices and maps, and c is the inventory's.
	c = c.DeepCopy()
	var v v1alpha1.Cluster
	if err := v1alpha1.Convert_clusters_Cluster_To_v1alpha1_Cluster(c, &v, nil); err != nil {
		return nil, fmt.Errorf("converting Cluster %s: %w", c.Name, err)
	}
	return &State{
		TypeMeta: metav1.TypeMeta{APIVersion: Resource.GroupVersion().String(), Kind: Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name:        c.Name,
			Labels:      c.Labels,
			Annotations: c.Annotations,
		},
		Cluster: Cluster{UID: c.UID, CreationTimestamp: c.CreationTimestamp, Spec: v.Spec, Status: v.Status},
	}, nil
}

// ToCluster returns the Cluster that s publishes, with s's resourceVersion.
func (s *State) ToCluster() (*clusters.Cluster, error) {
	v := v1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:              s.Name,
			Labels:            s.Labels,
			Annotations:       withoutHash(s.Annotations),
			UID:               s.Cluster.UID,
			CreationTimestamp: s.Cluster.CreationTimestamp,
			ResourceVersion:   s.ResourceVersion,
		},
		Spec:   s.Cluster.Spec,
		Status: s.Cluster.Status,
	}
	out := &clusters.Cluster{}
	if err := v1alpha1.Convert_v1alpha1_Cluster_To_clusters_Cluster(&v, out, nil); err != nil {
		return nil, fmt.Errorf("converting ClusterState %s: %w", s.Name, err)
	}
	return out, nil
}

// Decode reads a ClusterState from the hub's unstructured form.
func Decode(u *unstructured.Unstructured) (*State, error) {
	s := &State{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
		return nil, fmt.Errorf("reading ClusterState %s: %w", u.GetName(), err)
	}
	return s, nil
}

// Encode returns s in the unstructured form the hub's dynamic client
// takes, with the hash of its content in HashAnnotation.
func (s *State) Encode() (*unstructured.Unstructured, error) {
	content, err := json.Marshal(struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Cluster     Cluster           `json:"cluster"`
	}{s.Labels, withoutHash(s.Annotations), s.Cluster})
	if err != nil {
		return nil, fmt.Errorf("writing ClusterState %s: %w", s.Name, err)
	}
	sum := sha256.Sum256(content)
	c := *s
	c.Annotations = withoutHash(s.Annotations)
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[HashAnnotation] = hex.EncodeToString(sum[:16])
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
	if err != nil {
		return nil, fmt.Errorf("writing ClusterState %s: %w", s.Name, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// withoutHash returns a copy of annotations without HashAnnotation.
func withoutHash(annotations map[string]string) map[string]string {
	if len(annotations) == 0 {
		return nil
	}
	out := make(map[string]string, len(annotations))
	for k, v := range annotations {
		if k != HashAnnotation {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
