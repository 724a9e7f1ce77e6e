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
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unsafe"

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
// of them, a PartialObjectMetadata per row) nor a multi-megabyte buffer
// is made for it: a list is the kept encodings, written one after the
// other (see listBody). Only the plain lists a client asks for without
// options take this path (see plainList); the bytes are the generic
// handler's, which TestListEncoderMatches checks.
type listEncoder struct {
	inv *inventory.Inventory

	mu sync.Mutex
	// items are the encodings of the Clusters at rv, by published object,
	// never modified.
	items map[*clusters.Cluster][]byte
	// rv and list are the last list made, which every list at the same
	// resourceVersion (another Accept header, say) shares.
	rv   string
	list *listBody
	// rows are the Table rows of the Clusters at tableRV, by published
	// object, never modified.
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

// listBody is a list as the generic handler writes it, kept as the parts
// it is made of: the list's head, the parts of each item, a comma between
// two items, and the tail. The parts are the encoder's kept encodings,
// shared and never modified, so a list of 10,000 Clusters costs a slice
// of them rather than a buffer of megabytes allocated anew for each
// change (and for each Table, whose Ages change).
type listBody struct {
	head, tail []byte
	// parts are the items' parts in order, per of them to an item.
	parts [][]byte
	per   int
	// size is the length of the whole list in bytes.
	size int
}

func newListBody(head, tail []byte, parts [][]byte, per int) *listBody {
	b := &listBody{head: head, tail: tail, parts: parts, per: per, size: len(head) + len(tail)}
	for _, p := range parts {
		b.size += len(p)
	}
	if n := len(parts) / per; n > 1 {
		b.size += n - 1 // commas
	}
	return b
}

// listWriters buffers a list's parts into writes of listWriteSize bytes:
// through the handler chain's writers, a Write for each of 10,000 items
// would cost more than copying them.
const listWriteSize = 32 << 10

var listWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, listWriteSize) }}

// writeTo writes the whole list to w.
func (b *listBody) writeTo(w io.Writer) error {
	bw := listWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		listWriters.Put(bw)
	}()
	_, _ = bw.Write(b.head)
	for i, p := range b.parts {
		if i > 0 && i%b.per == 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(p)
	}
	_, _ = bw.Write(b.tail)
	return bw.Flush()
}

// held is what b itself holds: its references to the parts, which are
// the encoder's.
func (b *listBody) held() int {
	return len(b.head) + len(b.tail) + len(b.parts)*int(unsafe.Sizeof(b.head))
}

// listTail ends a list or a Table, as the JSON serializer does: "]}" and
// a newline.
var listTail = []byte("]}\n")

// encode returns the list of every Cluster now and its resourceVersion.
func (l *listEncoder) encode() (*listBody, string, error) {
	objs, rv := l.inv.List()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list != nil && l.rv == rv {
		return l.list, rv, nil
	}
	next, err := reuse(objs, l.items, encodeItem, &l.encoded)
	if err != nil {
		return nil, "", err
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
	parts := make([][]byte, len(objs))
	for i, obj := range objs {
		parts[i] = next[obj]
	}
	list := newListBody(head[:len(head)-2], listTail, parts, 1)
	l.items, l.rv, l.list = next, rv, list
	return list, rv, nil
}

// forget drops the kept encodings, when no list has been asked for a while.
func (l *listEncoder) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items, l.rv, l.list = nil, "", nil
	l.rows, l.tableRV = nil, ""
}

// encodeTable returns the Table of every Cluster now, in meta.k8s.io/v1,
// with each Age at now, and its resourceVersion.
func (l *listEncoder) encodeTable(now time.Time) (*listBody, string, error) {
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
	bySeconds := map[time.Duration][]byte{}
	var unknown []byte
	parts := make([][]byte, 0, 3*len(objs))
	for _, obj := range objs {
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
		parts = append(parts, r.before, age, r.after)
	}
	l.rows, l.tableRV = next, rv
	return newListBody(head[:len(head)-2], listTail, parts, 3), rv, nil
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
	// first cell nor the last. Each part is allocated at its size: rows
	// are kept for as long as their Clusters do not change.
	const cellsKey, objectKey = `{"cells":`, `,"object":`
	r := tableRow{
		before: make([]byte, 0, len(cellsKey)+len(before)),
		after:  make([]byte, 0, 1+len(after)-1+len(objectKey)+len(object)+1),
	}
	r.before = append(r.before, cellsKey...)
	r.before = append(r.before, before[:len(before)-1]...) // without its ]
	r.before = append(r.before, ',')
	r.after = append(r.after, ',')
	r.after = append(r.after, after[1:]...) // without its [
	r.after = append(r.after, objectKey...)
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
