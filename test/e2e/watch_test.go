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
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/cache"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/informers/externalversions"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// events records what an informer's handler saw, as "add NAME",
// "update NAME SERVER" and "delete NAME".
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(s string) { e.mu.Lock(); e.got = append(e.got, s); e.mu.Unlock() }

// has reports whether a recorded line starts with s, and what was recorded.
func (e *events) has(s string) (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range e.got {
		if g == s || strings.HasPrefix(g, s+" ") {
			return true, ""
		}
	}
	return false, strings.Join(e.got, "; ")
}

// mark returns a position to look for lines after.
func (e *events) mark() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.got) }

// since returns the lines after mark that start with prefix.
func (e *events) since(mark int, prefix string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, g := range e.got[min(mark, len(e.got)):] {
		if strings.HasPrefix(g, prefix) {
			out = append(out, g)
		}
	}
	return out
}

func (e *events) handler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { e.add("add " + obj.(*clustersv1alpha1.Cluster).Name) },
		UpdateFunc: func(_, obj interface{}) {
			c := obj.(*clustersv1alpha1.Cluster)
			e.add("update " + c.Name + " " + c.Spec.Server)
		},
		DeleteFunc: func(obj interface{}) {
			switch o := obj.(type) {
			case *clustersv1alpha1.Cluster:
				e.add("delete " + o.Name)
			case cache.DeletedFinalStateUnknown:
				e.add("delete " + o.Key)
			}
		},
	}
}

// startInformer runs a generated Cluster informer against the hub until
// the test ends.
func startInformer(t *testing.T) *events {
	t.Helper()
	factory := externalversions.NewSharedInformerFactory(env.HubClusters(t), 0)
	informer := factory.Clusters().V1alpha1().Clusters().Informer()
	ev := &events{}
	if _, err := informer.AddEventHandler(ev.handler()); err != nil {
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

// watchKubectl runs `kubectl get clusters -w --output-watch-events`
// against the hub and collects its lines, with runs of spaces folded, until
// the test ends: "ADDED member-1 kubeconfig https://... <none> Unknown 0s".
func watchKubectl(t *testing.T) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, filepath.Join(env.BinDir, "kubectl"), "--kubeconfig", env.HubKubeconfig,
		"get", "clusters", "-w", "--output-watch-events", "--no-headers")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := &events{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines.add(strings.Join(strings.Fields(s.Text()), " "))
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); <-done })
	return lines
}

func TestInformerAndKubectlWatchSeeSourceChanges(t *testing.T) {
	clearDynamic(t)
	informer := startInformer(t)
	kubectlWatch := watchKubectl(t)
	// kubectl -w first lists what exists.
	harness.Eventually(t, 20*time.Second, "kubectl -w lists member-1", func() (bool, string) {
		return kubectlWatch.has("ADDED member-1 kubeconfig " + env.Members[0].URL)
	})

	server := env.Members[1].URL
	moved := env.Members[0].URL
	steps := []struct {
		name         string
		servers      map[string]string
		informerSees string
		kubectlSees  string
	}{
		{"added", map[string]string{"e2e-dyn": server}, "add e2e-dyn", "ADDED e2e-dyn kubeconfig " + server},
		{"modified", map[string]string{"e2e-dyn": moved}, "update e2e-dyn " + moved, "MODIFIED e2e-dyn kubeconfig " + moved},
		{"deleted", nil, "delete e2e-dyn", "DELETED e2e-dyn kubeconfig " + moved},
	}
	for _, step := range steps {
		writeDynamic(t, step.servers)
		// The source polls every 200ms in this suite (1s by default); the
		// deadline only bounds a hung test.
		harness.Eventually(t, 20*time.Second, step.name+": informer sees "+step.informerSees, func() (bool, string) {
			return informer.has(step.informerSees)
		})
		harness.Eventually(t, 20*time.Second, step.name+": kubectl -w prints "+step.kubectlSees, func() (bool, string) {
			return kubectlWatch.has(step.kubectlSees)
		})
	}
}
