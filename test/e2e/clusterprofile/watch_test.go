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

package clusterprofile

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/tools/cache"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/informers/externalversions"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// events is what one watcher saw, one line per event, in the same form for
// an informer and for kubectl: "MODIFIED cp.fleet.x manager=m props=k=v".
type events struct {
	name string
	mu   sync.Mutex
	got  []string
}

// summary is the line of one event: the Cluster's name, its copied
// cluster-manager label and its properties.
func summary(event string, c *clustersv1alpha1.Cluster) string {
	var props []string
	for _, p := range c.Status.Properties {
		props = append(props, p.Name+"="+p.Value)
	}
	return event + " " + c.Name + " manager=" + c.Labels[cpv1alpha1.LabelClusterManagerKey] + " props=" + strings.Join(props, ",")
}

func (e *events) add(line string) { e.mu.Lock(); e.got = append(e.got, line); e.mu.Unlock() }

// mark returns a position to look for events after.
func (e *events) mark() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.got) }

// since reports whether a line after mark starts with prefix, and the lines
// after mark.
func (e *events) since(mark int, prefix string) (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	after := e.got[min(mark, len(e.got)):]
	return slices.ContainsFunc(after, func(l string) bool { return strings.HasPrefix(l, prefix) }),
		e.name + " saw: " + strings.Join(after, "; ")
}

// watchers runs a generated informer and `kubectl get clusters -w` against
// the hub until the test ends.
func watchers(t *testing.T) []*events {
	return []*events{startInformer(t), watchKubectl(t)}
}

// waitEvent waits until every watcher has seen prefix after marks.
func waitEvent(t *testing.T, ws []*events, marks []int, prefix string) {
	t.Helper()
	for i, w := range ws {
		harness.Eventually(t, waitTimeout, w.name+" sees "+prefix, func() (bool, string) { return w.since(marks[i], prefix) })
	}
}

// marks marks every watcher.
func marks(ws []*events) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		out[i] = w.mark()
	}
	return out
}

// startInformer runs a Cluster informer of pkg/generated against the hub.
func startInformer(t *testing.T) *events {
	t.Helper()
	factory := externalversions.NewSharedInformerFactory(env.HubClusters(t), 0)
	informer := factory.Clusters().V1alpha1().Clusters().Informer()
	ev := &events{name: "the informer"}
	cluster := func(obj any) *clustersv1alpha1.Cluster {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		c, _ := obj.(*clustersv1alpha1.Cluster)
		return c
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { ev.add(summary("ADDED", cluster(obj))) },
		UpdateFunc: func(_, obj any) { ev.add(summary("MODIFIED", cluster(obj))) },
		DeleteFunc: func(obj any) { ev.add(summary("DELETED", cluster(obj))) },
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, informer.HasSynced) {
		t.Fatal("the informer did not sync through the hub")
	}
	return ev
}

// watchKubectl runs `kubectl get clusters -w --output-watch-events -o json`
// and records the events it prints.
func watchKubectl(t *testing.T) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), "--kubeconfig", env.HubKubeconfig,
		"get", "clusters", "-w", "--output-watch-events", "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ev := &events{name: "kubectl -w"}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := json.NewDecoder(out)
		for {
			var e struct {
				Type   string                   `json:"type"`
				Object clustersv1alpha1.Cluster `json:"object"`
			}
			if d.Decode(&e) != nil {
				return
			}
			ev.add(summary(e.Type, &e.Object))
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); <-done })
	// kubectl lists what exists first: the kubeconfig member-1.
	harness.Eventually(t, waitTimeout, "kubectl -w lists member-1", func() (bool, string) { return ev.since(0, "ADDED member-1 ") })
	return ev
}
