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

package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
	clusterstorage "github.com/headlamp-k8s/clusters-apiserver/pkg/registry/cluster"
)

// listEncoder writes a list of every Cluster as the generic handler
// would, in JSON or as the Table kubectl asks for, from an encoding of
// each Cluster kept until it changes: a change re-encodes one Cluster, not
// 10,000, and neither the list's objects (a copy of every Cluster, a Table
// of them, a PartialObjectMetadata per row) nor a multi-megabyte encoder
// buffer, grown by doubling and then pooled, is made for it. Only the
// plain lists a client asks for without options take this path (see
// plainList); the bytes are the generic handler's, which
// TestListEncoderMatches checks.
type listEncoder struct {
	inv *inventory.Inventory

	mu sync.Mutex
	// items are the encodings of the Clusters at rv, by published object,
	// never modified: each is where it lies in body, the last list, so
	// that a Cluster's encoding is not kept twice.
	items map[*clusters.Cluster][]byte
	// rv and body are the last list written, which every list at the same
	// resourceVersion (another Accept header, say) shares.
	rv   string
	body []byte
	// rows are the Table rows of the Clusters at tableRV, by published
	// object; each lies in the last Table written, around its Age.
	rows    map[*clusters.Cluster]tableRow
	tableRV string
	// encoded counts the Clusters encoded, items and rows, for tests.
	encoded int
}

// tableRow is the JSON of a Cluster's row in a Table, as the generic
// handler writes it with the default includeObject (Metadata), but for
// the Age cell, which is computed when a Table is written and goes
// between before and after.
type tableRow struct {
	before, after []byte
}

func newListEncoder(inv *inventory.Inventory) *listEncoder {
	return &listEncoder{inv: inv}
}

// encode returns the list of every Cluster now and its resourceVersion.
func (l *listEncoder) encode() ([]byte, string, error) {
	objs, rv := l.inv.List()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.body != nil && l.rv == rv {
		return l.body, rv, nil
	}
	next, err := reuse(objs, l.items, encodeItem, &l.encoded)
	if err != nil {
		return nil, "", err
	}
	size := 0
	for _, b := range next {
		size += len(b) + 1
	}

	// The list's own fields as the generic handler writes them, with its
	// items spliced in: "items" is the last field.
	head, err := json.Marshal(&clustersv1alpha1.ClusterList{
		TypeMeta: metav1.TypeMeta{Kind: "ClusterList", APIVersion: clustersv1alpha1.SchemeGroupVersion.String()},
		ListMeta: metav1.ListMeta{ResourceVersion: rv},
		Items:    []clustersv1alpha1.Cluster{},
	})
	if err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(head, []byte(`"items":[]}`)) {
		return nil, "", fmt.Errorf("a ClusterList encodes as %.200s", head)
	}
	out := make([]byte, 0, len(head)+size+1)
	out = append(out, head[:len(head)-2]...)
	for i, obj := range objs {
		if i > 0 {
			out = append(out, ',')
		}
		start := len(out)
		out = append(out, next[obj]...)
		next[obj] = out[start:len(out):len(out)] // and the last list's is garbage
	}
	out = append(out, "]}\n"...)
	l.items, l.rv, l.body = next, rv, out
	return out, rv, nil
}

// forget drops the kept encodings, when no list has been asked for a while.
func (l *listEncoder) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items, l.rv, l.body = nil, "", nil
	l.rows, l.tableRV = nil, ""
}

// encodeTable returns the Table of every Cluster now, in meta.k8s.io/v1,
// with each Age at now, and its resourceVersion.
func (l *listEncoder) encodeTable(now time.Time) ([]byte, string, error) {
	objs, rv := l.inv.List()
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.rows
	if next == nil || l.tableRV != rv {
		var err error
		if next, err = reuse(objs, l.rows, encodeRow, &l.encoded); err != nil {
			return nil, "", err
		}
	}

	head, err := json.Marshal(&metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: metav1.SchemeGroupVersion.String()},
		ListMeta:          metav1.ListMeta{ResourceVersion: rv},
		ColumnDefinitions: clusterstorage.Columns(),
		Rows:              []metav1.TableRow{},
	})
	if err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(head, []byte(`"rows":[]}`)) {
		return nil, "", fmt.Errorf("a Table encodes as %.200s", head)
	}
	// Each Age in JSON, written once for each number of whole seconds
	// since a creation, which is all an Age depends on: the Clusters of a
	// fleet are mostly created within the same few seconds.
	ages := make([][]byte, len(objs))
	bySeconds := map[time.Duration][]byte{}
	var unknown []byte
	size := len(head) + 3
	for i, obj := range objs {
		r, ok := next[obj]
		if !ok {
			return nil, "", fmt.Errorf("no row for Cluster %q at resourceVersion %s", obj.Name, rv)
		}
		var age []byte
		if obj.CreationTimestamp.IsZero() {
			if unknown == nil {
				if unknown, err = json.Marshal(clusterstorage.Age(obj.CreationTimestamp, now)); err != nil {
					return nil, "", err
				}
			}
			age = unknown
		} else {
			seconds := now.Sub(obj.CreationTimestamp.Time) / time.Second
			if age = bySeconds[seconds]; age == nil {
				if age, err = json.Marshal(clusterstorage.Age(obj.CreationTimestamp, now)); err != nil {
					return nil, "", err
				}
				bySeconds[seconds] = age
			}
		}
		ages[i] = age
		size += 1 + len(r.before) + len(age) + len(r.after)
	}
	out := make([]byte, 0, size)
	out = append(out, head[:len(head)-2]...)
	for i, obj := range objs {
		if i > 0 {
			out = append(out, ',')
		}
		r, age := next[obj], ages[i]
		start := len(out)
		out = append(out, r.before...)
		mid := len(out)
		out = append(out, age...)
		end := len(out)
		out = append(out, r.after...)
		// Kept where they lie in this Table, and the last one's are garbage.
		next[obj] = tableRow{before: out[start:mid:mid], after: out[end:len(out):len(out)]}
	}
	out = append(out, "]}\n"...)
	l.rows, l.tableRV = next, rv
	return out, rv, nil
}

// reuse returns the encodings of objs: those kept, and the others made by
// encode, which encoded counts.
func reuse[E any](objs []*clusters.Cluster, kept map[*clusters.Cluster]E, encode func(*clusters.Cluster) (E, error), encoded *int) (map[*clusters.Cluster]E, error) {
	next := make(map[*clusters.Cluster]E, len(objs))
	for _, obj := range objs {
		e, ok := kept[obj]
		if !ok {
			var err error
			if e, err = encode(obj); err != nil {
				return nil, err
			}
			*encoded++
		}
		next[obj] = e
	}
	return next, nil
}

// encodeRow encodes obj's row in a Table, as asTable in the generic
// handler makes it (the object is the Cluster's PartialObjectMetadata)
// and the JSON serializer writes it (json.Marshal of the row), with the
// Age cell left out.
func encodeRow(obj *clusters.Cluster) (tableRow, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return tableRow{}, err
	}
	partial := meta.AsPartialObjectMetadata(m)
	partial.GetObjectKind().SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
	cells := clusterstorage.Cells(obj, time.Time{})
	before, err := json.Marshal(cells[:clusterstorage.AgeCell])
	if err != nil {
		return tableRow{}, err
	}
	after, err := json.Marshal(cells[clusterstorage.AgeCell+1:])
	if err != nil {
		return tableRow{}, err
	}
	object, err := json.Marshal(partial)
	if err != nil {
		return tableRow{}, err
	}
	// {"cells":[before…,AGE,…after],"object":{…}}; Age is neither the
	// first cell nor the last.
	var r tableRow
	r.before = append(r.before, `{"cells":`...)
	r.before = append(r.before, before[:len(before)-1]...) // without its ]
	r.before = append(r.before, ',')
	r.after = append(r.after, ',')
	r.after = append(r.after, after[1:]...) // without its [
	r.after = append(r.after, `,"object":`...)
	r.after = append(r.after, object...)
	r.after = append(r.after, '}')
	return r, nil
}

// encodeItem encodes obj as an item of a v1alpha1 list, converted as the
// generic handler converts a list's items (with whatever TypeMeta obj
// has: none, as published).
func encodeItem(obj *clusters.Cluster) ([]byte, error) {
	var out clustersv1alpha1.Cluster
	if err := Scheme.Convert(obj, &out, nil); err != nil {
		return nil, err
	}
	return json.Marshal(&out)
}

// listForm is a form of the list of every Cluster that listEncoder writes.
type listForm int

const (
	// generic is any other: the generic handler writes it.
	generic listForm = iota
	// jsonList is a ClusterList in compact JSON.
	jsonList
	// tableList is a Table in meta.k8s.io/v1 with the default includeObject,
	// in compact JSON: what kubectl get asks for.
	tableList
)

// tableAccepts are the Accept headers that the generic handler answers
// with a Table in meta.k8s.io/v1, in JSON: kubectl get's, and the same
// without v1beta1 or without the fallback.
var tableAccepts = map[string]bool{
	"application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json": true,
	"application/json;as=Table;v=v1;g=meta.k8s.io,application/json":                                                   true,
	"application/json;as=Table;v=v1;g=meta.k8s.io":                                                                    true,
}

// plainList tells which list of every Cluster req asks for, if listEncoder
// writes it: no query but what does not change a list here
// (resourceVersion "" or "0", limit, which is not honoured, and timeout),
// an Accept header that the generic handler answers with a ClusterList or
// a Table in JSON, and no pretty-printing for the client.
func plainList(req *http.Request, pretty bool) listForm {
	if pretty {
		return generic
	}
	q, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return generic
	}
	for k, vs := range q {
		switch k {
		case "timeout": // the request deadline filter, outside, refuses a bad one
		case "limit":
			// One that the generic handler decodes (it refuses any other
			// with 400); it does not change the list here.
			if len(vs) != 1 {
				return generic
			}
			if _, err := strconv.ParseInt(vs[0], 10, 64); err != nil {
				return generic
			}
		case "resourceVersion":
			if len(vs) != 1 || (vs[0] != "" && vs[0] != "0") {
				return generic
			}
		default:
			return generic
		}
	}
	accept := req.Header.Values("Accept")
	if len(accept) > 1 {
		return generic
	}
	a := ""
	if len(accept) == 1 {
		a = accept[0]
	}
	switch {
	case a == "" || a == "application/json" || a == "*/*" || a == "application/json, */*":
		return jsonList
	case tableAccepts[a]:
		return tableList
	}
	return generic
}
