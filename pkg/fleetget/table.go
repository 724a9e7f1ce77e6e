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

package fleetget

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ClusterAnnotation names, on each object of List, the cluster it was read
// from.
const ClusterAnnotation = "clusters.headlamp.dev/cluster"

// Table merges the Tables of results into one, led by a Cluster column
// and, with withNamespace, a Namespace column. The other columns are those
// of every cluster that answered, by name, in the order they first
// appear: a cluster whose columns differ (another version of the
// resource) has its cells placed by name, blank where it has no such
// column, and no cluster can hide another's columns.
func Table(results []Result, withNamespace bool) *metav1.Table {
	out := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}}
	lead := []metav1.TableColumnDefinition{{Name: "Cluster", Type: "string"}}
	if withNamespace {
		lead = append(lead, metav1.TableColumnDefinition{Name: "Namespace", Type: "string"})
	}
	var columns []metav1.TableColumnDefinition
	for _, r := range results {
		if r.Table == nil {
			continue
		}
		clean(r.Table.ColumnDefinitions)
		for i, c := range placeCells(columns, r.Table.ColumnDefinitions) {
			if c < 0 {
				columns = append(columns, r.Table.ColumnDefinitions[i])
			}
		}
	}
	for _, r := range results {
		if r.Table == nil {
			continue
		}
		place := placeCells(columns, r.Table.ColumnDefinitions)
		for _, row := range r.Table.Rows {
			cells := make([]any, 0, len(lead)+len(columns))
			cells = append(cells, r.Cluster)
			if withNamespace {
				cells = append(cells, namespaceOf(row))
			}
			mine := make([]any, len(columns))
			for from, to := range place {
				if to >= 0 && from < len(row.Cells) {
					mine[to] = row.Cells[from]
				}
			}
			out.Rows = append(out.Rows, metav1.TableRow{Cells: append(cells, mine...)})
		}
	}
	out.ColumnDefinitions = append(slices.Clip(lead), columns...)
	return out
}

// clean makes a member's column names printable (the printer writes them
// as they are) and renames one that would pass for a lead column: a
// member's own Cluster column (Cluster API's resources have one) becomes
// "Cluster (member)".
func clean(columns []metav1.TableColumnDefinition) {
	for i := range columns {
		name := Printable(columns[i].Name)
		if strings.EqualFold(name, "Cluster") || strings.EqualFold(name, "Namespace") {
			name += " (member)"
		}
		columns[i].Name = name
	}
}

// placeCells maps each column of have to its place among want, by name;
// -1 where want has no such column.
func placeCells(want, have []metav1.TableColumnDefinition) []int {
	place := make([]int, len(have))
	for i, h := range have {
		place[i] = -1
		for j, w := range want {
			if strings.EqualFold(w.Name, h.Name) {
				place[i] = j
				break
			}
		}
	}
	return place
}

// namespaceOf reads the namespace of a row's object (the metadata a Table
// carries with includeObject=Metadata).
func namespaceOf(row metav1.TableRow) string {
	if row.Object.Object != nil {
		if m, ok := row.Object.Object.(metav1.Object); ok {
			return m.GetNamespace()
		}
	}
	var o struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(row.Object.Raw, &o)
	return o.Metadata.Namespace
}

// List returns the objects of results as one v1 List, as kubectl get -o
// json prints several resources, each object with its apiVersion and kind,
// without managedFields (as kubectl prints objects by default), and annotated with the cluster it came from.
func List(results []Result) *unstructured.UnstructuredList {
	out := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}}}
	for _, r := range results {
		if r.List == nil {
			continue
		}
		kind := strings.TrimSuffix(r.List.GetKind(), "List")
		for _, item := range r.List.Items {
			if item.GetKind() == "" {
				item.SetAPIVersion(r.List.GetAPIVersion())
				item.SetKind(kind)
			}
			annotations := item.GetAnnotations()
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[ClusterAnnotation] = r.Cluster
			item.SetAnnotations(annotations)
			// As kubectl get -o json|yaml prints them by default.
			item.SetManagedFields(nil)
			out.Items = append(out.Items, item)
		}
	}
	return out
}

// Printable drops the control and format characters of s (bidirectional
// overrides among them), so that text from the hub or a member cannot
// forge rows, columns or terminal escapes.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}
