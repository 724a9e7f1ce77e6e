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
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// tableConvertor renders Clusters for kubectl get.
type tableConvertor struct{}

var columns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name of the Cluster object."},
	{Name: "Source", Type: "string", Description: "Kind of source the cluster was found in."},
	{Name: "Server", Type: "string", Description: "URL of the member's API server."},
	{Name: "Version", Type: "string", Description: "Kubernetes version of the member, when known."},
	{Name: "Ready", Type: "string", Description: "Status of the Ready condition."},
	{Name: "Age", Type: "string", Description: "Time since the server first saw the cluster."},
	{Name: "Origin", Type: "string", Priority: 1, Description: "Kubeconfig file:context or ClusterProfile namespace/name."},
	{Name: "Display Name", Type: "string", Priority: 1, Description: "Human-friendly name of the cluster."},
}

// ConvertToTable implements rest.TableConvertor.
func (tableConvertor) ConvertToTable(_ context.Context, object runtime.Object, _ runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{ColumnDefinitions: columns}
	var items []clusters.Cluster
	switch t := object.(type) {
	case *clusters.Cluster:
		table.ResourceVersion = t.ResourceVersion
		items = []clusters.Cluster{*t}
	case *clusters.ClusterList:
		table.ResourceVersion = t.ResourceVersion
		table.Continue = t.Continue
		items = t.Items
	default:
		return nil, fmt.Errorf("cannot render %T as a table of clusters", object)
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	now := time.Now()
	for i := range items {
		c := &items[i]
		table.Rows = append(table.Rows, metav1.TableRow{Cells: Cells(c, now), Object: runtime.RawExtension{Object: c}})
	}
	return table, nil
}

// AgeCell is the index of the Age cell in a row of Cells: the only one
// that changes without the Cluster changing.
const AgeCell = 5

// Cells returns the cells of c's row in a Table, with its age at now.
func Cells(c *clusters.Cluster, now time.Time) []interface{} {
	return []interface{}{
		c.Name,
		strings.ToLower(string(c.Spec.Source.Type)),
		c.Spec.Server,
		orNone(kubernetesVersion(c)),
		readyStatus(c),
		Age(c.CreationTimestamp, now),
		orNone(origin(c)),
		c.Spec.DisplayName,
	}
}

// Columns returns the column definitions of a Table of Clusters, shared:
// not to be modified.
func Columns() []metav1.TableColumnDefinition { return columns }

func kubernetesVersion(c *clusters.Cluster) string {
	if c.Status.Version == nil {
		return ""
	}
	return c.Status.Version.Kubernetes
}

func readyStatus(c *clusters.Cluster) string {
	if cond := meta.FindStatusCondition(c.Status.Conditions, clusters.ConditionReady); cond != nil {
		return string(cond.Status)
	}
	return string(metav1.ConditionUnknown)
}

// origin names where the cluster was found: file:context or namespace/name.
func origin(c *clusters.Cluster) string {
	switch s := c.Spec.Source; {
	case s.Kubeconfig != nil:
		return s.Kubeconfig.File + ":" + s.Kubeconfig.Context
	case s.ClusterProfile != nil:
		return s.ClusterProfile.Namespace + "/" + s.ClusterProfile.Name
	}
	return ""
}

// Age is the Age cell of a Cluster created at t, at now.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
