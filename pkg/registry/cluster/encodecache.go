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
	"bytes"
	"io"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
)

// cachedObject is a published Cluster that keeps its serializations, one
// per encoder, so that every watcher of one change shares one encoding:
// kube-apiserver's watch cache does the same with its cachingObject. The
// generic server's watch encoder calls CacheEncode with an identifier of
// its encoders, the event type and any Table options, and writes the
// bytes of the whole framed event.
type cachedObject struct {
	obj *clusters.Cluster // shared, never modified

	mu  sync.Mutex
	enc map[runtime.Identifier]*encoding
}

// encoding is one serialization of a cachedObject.
type encoding struct {
	once sync.Once
	raw  []byte
	err  error
}

var _ runtime.CacheableObject = &cachedObject{}

// CacheEncode implements runtime.CacheableObject.
func (o *cachedObject) CacheEncode(id runtime.Identifier, encode func(runtime.Object, io.Writer) error, w io.Writer) error {
	o.mu.Lock()
	if o.enc == nil {
		o.enc = map[runtime.Identifier]*encoding{}
	}
	e, ok := o.enc[id]
	if !ok {
		e = &encoding{}
		o.enc[id] = e
	}
	o.mu.Unlock()
	e.once.Do(func() {
		var buf bytes.Buffer
		e.err = encode(o.GetObject(), &buf)
		e.raw = buf.Bytes()
	})
	if e.err != nil {
		return e.err
	}
	if s, ok := w.(runtime.Splice); ok {
		s.Splice(e.raw)
		return nil
	}
	_, err := w.Write(e.raw)
	return err
}

// GetObject implements runtime.CacheableObject: a copy of the top level,
// since encoders set its TypeMeta.
func (o *cachedObject) GetObject() runtime.Object { return shallow(o.obj) }

// GetObjectKind implements runtime.Object.
func (o *cachedObject) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object.
func (o *cachedObject) DeepCopyObject() runtime.Object { return o.obj.DeepCopy() }

// encodeCacheSize is how many of the latest events keep their encodings:
// a change reaches every watcher within a few events of the newest, and
// each kept event holds about a kilobyte per kind of encoder.
const encodeCacheSize = 256

// encodeCache hands every watch the same cachedObject for one event's
// object, for the encodeCacheSize latest objects asked for.
type encodeCache struct {
	mu   sync.Mutex
	objs map[*clusters.Cluster]*cachedObject
	ring [encodeCacheSize]*clusters.Cluster
	next int
}

// get returns the cachedObject of obj, a published object.
func (c *encodeCache) get(obj *clusters.Cluster) *cachedObject {
	c.mu.Lock()
	defer c.mu.Unlock()
	if co, ok := c.objs[obj]; ok {
		return co
	}
	if c.objs == nil {
		c.objs = make(map[*clusters.Cluster]*cachedObject, encodeCacheSize)
	}
	if old := c.ring[c.next]; old != nil {
		delete(c.objs, old)
	}
	co := &cachedObject{obj: obj}
	c.objs[obj] = co
	c.ring[c.next] = obj
	c.next = (c.next + 1) % encodeCacheSize
	return co
}
