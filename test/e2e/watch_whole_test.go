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

package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// seen is one event of a watch stream.
type seen struct {
	typ    watch.EventType
	name   string
	rv     uint64
	server string
}

// TestWatchStreamsWhole opens three watches through the hub, makes a run of
// changes, and checks each stream whole: every event exactly once, with
// strictly increasing resourceVersions, every change of the watched
// cluster's server in the order made and none missing, and the three
// streams identical.
func TestWatchStreamsWhole(t *testing.T) {
	clearDynamic(t)
	clusters := env.HubClusters(t).ClustersV1alpha1().Clusters()
	list, err := clusters.List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const watchers = 3
	var ws []watch.Interface
	for range watchers {
		w, err := clusters.Watch(t.Context(), metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		ws = append(ws, w)
	}

	// Each change is waited for (by GET, not by watch) before the next,
	// so the source cannot fold two into one.
	const changes = 8
	var servers []string
	for i := range changes {
		server := fmt.Sprintf("https://127.0.0.1:%d", 1+i) // nothing listens: Ready stays False
		servers = append(servers, server)
		writeDynamic(t, map[string]string{"e2e-whole": server})
		harness.Eventually(t, 20*time.Second, "change "+strconv.Itoa(i)+" is served", func() (bool, string) {
			c, err := clusters.Get(t.Context(), "e2e-whole", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return c.Spec.Server == server, c.Spec.Server
		})
	}
	writeDynamic(t, nil)
	harness.Eventually(t, 20*time.Second, "the cluster is gone", func() (bool, string) {
		_, err := clusters.Get(t.Context(), "e2e-whole", metav1.GetOptions{})
		return err != nil, "still there"
	})

	var streams [][]seen
	for i, w := range ws {
		var got []seen
		deadline := time.After(20 * time.Second)
	read:
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch %d ended early after %d events", i, len(got))
				}
				c, isCluster := ev.Object.(*clustersv1alpha1.Cluster)
				if !isCluster {
					t.Fatalf("watch %d: %s event with %T: %v", i, ev.Type, ev.Object, ev.Object)
				}
				rv, err := strconv.ParseUint(c.ResourceVersion, 10, 64)
				if err != nil {
					t.Fatalf("watch %d: resourceVersion %q: %v", i, c.ResourceVersion, err)
				}
				got = append(got, seen{ev.Type, c.Name, rv, c.Spec.Server})
				if ev.Type == watch.Deleted && c.Name == "e2e-whole" {
					break read
				}
			case <-deadline:
				t.Fatalf("watch %d: no DELETED e2e-whole within 20s; got %v", i, got)
			}
		}
		streams = append(streams, got)
	}

	for i, got := range streams {
		for j := 1; j < len(got); j++ {
			if got[j].rv <= got[j-1].rv {
				t.Errorf("watch %d: event %d (%s %s rv %d) does not follow rv %d", i, j, got[j].typ, got[j].name, got[j].rv, got[j-1].rv)
			}
		}
		// The watched cluster's servers, in order, each once (health
		// updates repeat a server as MODIFIED events).
		var order []string
		added := 0
		for _, ev := range got {
			if ev.name != "e2e-whole" {
				continue
			}
			if ev.typ == watch.Added {
				added++
			}
			if ev.typ != watch.Deleted && (len(order) == 0 || order[len(order)-1] != ev.server) {
				order = append(order, ev.server)
			}
		}
		if added != 1 || fmt.Sprint(order) != fmt.Sprint(servers) {
			t.Errorf("watch %d: %d ADDED, servers %v; want 1 ADDED and %v", i, added, order, servers)
		}
		if i > 0 && fmt.Sprint(got) != fmt.Sprint(streams[0]) {
			t.Errorf("watch %d differs from watch 0:\n%v\n%v", i, got, streams[0])
		}
	}
}
