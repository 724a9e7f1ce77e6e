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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// listEncoder writes a list of every Cluster as the generic handler
// would in JSON, from an encoding of each Cluster kept until it changes:
// a change re-encodes one Cluster, not 10,000, and no multi-megabyte
// encoder buffer is grown (and pooled) for it. Only the plain list a
// client asks for without options takes this path (see plainJSONList);
// the bytes are the generic handler's, which TestListEncoderMatches
// checks.
type listEncoder struct {
	inv *inventory.Inventory

	mu    sync.Mutex
	items map[*clusters.Cluster][]byte // by published object, never modified
	// rv and body are the last list written, which every list at the same
	// resourceVersion (another Accept header, say) shares.
	rv   string
	body []byte
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
	next := make(map[*clusters.Cluster][]byte, len(objs))
	size := 0
	for _, obj := range objs {
		b, ok := l.items[obj]
		if !ok {
			var err error
			if b, err = encodeItem(obj); err != nil {
				return nil, "", err
			}
		}
		next[obj] = b
		size += len(b) + 1
	}
	l.items = next

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
		out = append(out, next[obj]...)
	}
	out = append(out, "]}\n"...)
	l.rv, l.body = rv, out
	return out, rv, nil
}

// forget drops the kept encodings, when no list has been asked for a while.
func (l *listEncoder) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items, l.rv, l.body = nil, "", nil
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

// plainJSONList tells whether req asks for the plain list of every Cluster
// in compact JSON, which listEncoder writes: no query but what does not
// change a list here (resourceVersion "" or "0", limit, which is not
// honoured, and timeout), an Accept header that the generic handler
// answers with JSON, and no pretty-printing for the client.
func plainJSONList(req *http.Request, pretty bool) bool {
	if pretty {
		return false
	}
	q, err := url.ParseQuery(req.URL.RawQuery)
	if err != nil {
		return false
	}
	for k, vs := range q {
		switch k {
		case "timeout": // the request deadline filter, outside, refuses a bad one
		case "limit":
			// One that the generic handler decodes (it refuses any other
			// with 400); it does not change the list here.
			if len(vs) != 1 {
				return false
			}
			if _, err := strconv.ParseInt(vs[0], 10, 64); err != nil {
				return false
			}
		case "resourceVersion":
			if len(vs) != 1 || (vs[0] != "" && vs[0] != "0") {
				return false
			}
		default:
			return false
		}
	}
	accept := req.Header.Values("Accept")
	if len(accept) > 1 {
		return false
	}
	a := ""
	if len(accept) == 1 {
		a = accept[0]
	}
	return a == "" || a == "application/json" || a == "*/*" || a == "application/json, */*"
}
