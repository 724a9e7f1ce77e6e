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
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
)

// TestHubWatchStops: a client that stops its watch while an event waits
// for it leaves nothing running (watch.Filter would block forever).
func TestHubWatchStops(t *testing.T) {
	in := watch.NewFake()
	hw := &hubWatch{in: in, out: make(chan watch.Event), done: make(chan struct{})}
	go hw.run()
	s, _ := hubstate.FromCluster(&clusters.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	u, _ := s.Encode()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		in.Add(u) // read by run, which then waits for the client
	}()
	<-sent
	hw.Stop()
	select {
	case _, ok := <-hw.out:
		for ok {
			_, ok = <-hw.out
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end within 5s of Stop")
	}
	if !in.IsStopped() {
		t.Error("the hub's watch was not stopped")
	}
}

// TestConvertEvent: ClusterStates become Clusters without the hash;
// bookmarks keep their resourceVersion and annotations; errors pass.
func TestConvertEvent(t *testing.T) {
	s, _ := hubstate.FromCluster(&clusters.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"env": "prod"}}})
	u, _ := s.Encode()
	u.SetResourceVersion("7")
	ev, ok := convertEvent(watch.Event{Type: watch.Modified, Object: u})
	c, isCluster := ev.Object.(*clusters.Cluster)
	if !ok || !isCluster || c.Name != "a" || c.ResourceVersion != "7" || c.Labels["env"] != "prod" || len(c.Annotations) != 0 {
		t.Errorf("converted %v %+v", ok, ev.Object)
	}
	bm := &unstructured.Unstructured{}
	bm.SetResourceVersion("9")
	bm.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
	ev, ok = convertEvent(watch.Event{Type: watch.Bookmark, Object: bm})
	if c, _ := ev.Object.(*clusters.Cluster); !ok || c == nil || c.ResourceVersion != "9" || c.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
		t.Errorf("bookmark converted %v %+v", ok, ev.Object)
	}
	status := &metav1.Status{Code: http.StatusGone}
	if ev, ok := convertEvent(watch.Event{Type: watch.Error, Object: status}); !ok || ev.Object != status {
		t.Errorf("error event converted %v %+v", ok, ev)
	}
}

// TestHubError: what the hub says about ClusterStates reaches callers as
// about Clusters, and its internals (this server's identity, the hub's
// address) only the log.
func TestHubError(t *testing.T) {
	gr := schema.GroupResource{Group: hubstate.Group, Resource: "clusterstates"}
	for _, tc := range []struct {
		name string
		err  error
		code int32
	}{
		{"not found", apierrors.NewNotFound(gr, "a"), http.StatusNotFound},
		{"expired", apierrors.NewResourceExpired("too old resource version: 1 (2)"), http.StatusGone},
		{"busy", apierrors.NewTooManyRequests("too many", 1), http.StatusTooManyRequests},
		{"forbidden", apierrors.NewForbidden(gr, "", errors.New(`User "system:serviceaccount:clusters-system:clusters-apiserver" cannot list`)), http.StatusServiceUnavailable},
		{"unreachable", errors.New(`Get "https://10.0.0.1:6443/apis/internal.clusters.headlamp.dev/v1alpha1/clusterstates": dial tcp: connection refused`), http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := hubError(tc.err, "a")
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Code != tc.code {
				t.Fatalf("%v; want code %d", err, tc.code)
			}
			for _, leak := range []string{"serviceaccount", "10.0.0.1", "clusterstates"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("%q names %q", err, leak)
				}
			}
		})
	}
}

// TestHubListOptions: only metadata.name among fields, no shard selector.
func TestHubListOptions(t *testing.T) {
	if _, err := hubListOptions(&metainternalversion.ListOptions{ShardSelector: "x"}); !apierrors.IsBadRequest(err) {
		t.Errorf("a shard selector: %v; want 400", err)
	}
}
