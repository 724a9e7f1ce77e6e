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

package ha

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/generated/clientset/versioned"
)

// failoverLimit is how soon a new leader must lead after the old one dies,
// with the server's default Lease timings (10 s lease, 2 s retry): a
// candidate counts the lease from when it saw it last renewed, and client-go
// spaces a candidate's tries by the retry period jittered up to 2.2 times
// (4.4 s), so it may see the last renewal 4.4 s late, and try 4.4 s after
// the lease ran out: 18.8 s at worst, 12 to 13 s typically, plus the hub's
// answers. It was 15 s, which a CI run under load passed over (15.4 s).
const failoverLimit = 20 * time.Second

// seen is one change a client saw.
type seen struct {
	typ   string
	name  string
	rv    string
	ready string // the Ready condition's status
}

func (s seen) String() string { return s.typ + " " + s.name + " " + s.rv + " Ready=" + s.ready }

func readyOf(c *clustersv1alpha1.Cluster) string {
	if r := meta.FindStatusCondition(c.Status.Conditions, clustersv1alpha1.ConditionReady); r != nil {
		return string(r.Status)
	}
	return ""
}

// recorder keeps what a client saw, in order.
type recorder struct {
	mu     sync.Mutex
	events []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.events...)
}

// kubectlWatch runs kubectl get clusters -w through the hub and records the
// events it prints, until it exits; done is closed then.
func kubectlWatch(ctx context.Context, t *testing.T) (*recorder, <-chan struct{}) {
	t.Helper()
	cmd := env.KubectlCmd(ctx, env.HubKubeconfig, "get", "clusters", "-w", "--output-watch-events", "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := json.NewDecoder(bufio.NewReader(out))
		for {
			var ev struct {
				Type   string                   `json:"type"`
				Object clustersv1alpha1.Cluster `json:"object"`
			}
			if err := d.Decode(&ev); err != nil {
				break
			}
			r.add(seen{typ: ev.Type, name: ev.Object.Name, rv: ev.Object.ResourceVersion, ready: readyOf(&ev.Object)})
		}
		_ = cmd.Wait()
	}()
	return r, done
}

// countingLW is the ListWatch of an informer through the hub, counting the
// full lists (a list, or a watch that starts with the current objects) and
// the watches that resume from a resourceVersion.
type countingLW struct {
	cache.ListWatch
	mu             sync.Mutex
	lists, resumes int
}

func newCountingLW(client versioned.Interface) *countingLW {
	lw := &countingLW{}
	clusters := client.ClustersV1alpha1().Clusters()
	lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		lw.count(true)
		return clusters.List(ctx, o)
	}
	lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		lw.count(o.SendInitialEvents != nil && *o.SendInitialEvents || o.ResourceVersion == "" || o.ResourceVersion == "0")
		return clusters.Watch(ctx, o)
	}
	return lw
}

func (lw *countingLW) count(full bool) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if full {
		lw.lists++
	} else {
		lw.resumes++
	}
}

func (lw *countingLW) counts() (lists, resumes int) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.lists, lw.resumes
}

// fleet writes the --kubeconfig-source directory's file: one context per
// name, each reaching member-1.
func fleet(t *testing.T, names []string) {
	t.Helper()
	members, err := clientcmd.LoadFromFile(env.MembersKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := members.Contexts["member-1"]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["member-1"] = members.Clusters[ctx.Cluster]
	cfg.AuthInfos["member-1"] = members.AuthInfos[ctx.AuthInfo]
	for _, name := range names {
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: "member-1", AuthInfo: "member-1"}
	}
	tmp := filepath.Join(fleetDir, ".fleet.tmp")
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(fleetDir, "fleet.kubeconfig")); err != nil {
		t.Fatal(err)
	}
}

// visible waits until the hub serves the Cluster name as check wants.
func visible(t *testing.T, client versioned.Interface, name string, check func(*clustersv1alpha1.Cluster, error) bool) {
	t.Helper()
	waitFor(t, 60*time.Second, "the change to "+name, func() (bool, string) {
		c, err := client.ClustersV1alpha1().Clusters().Get(t.Context(), name, metav1.GetOptions{})
		if check(c, err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("Ready=%s", readyOf(c))
	})
}

// informerUnderTest is a client-go informer on Clusters through the hub,
// with what its handlers saw and how often it listed.
type informerUnderTest struct {
	lw   *countingLW
	inf  cache.SharedIndexInformer
	seen *recorder
}

func startInformer(ctx context.Context, t *testing.T, client versioned.Interface) *informerUnderTest {
	t.Helper()
	it := &informerUnderTest{lw: newCountingLW(client), seen: &recorder{}}
	it.inf = cache.NewSharedIndexInformer(it.lw, &clustersv1alpha1.Cluster{}, 0, cache.Indexers{})
	record := func(typ string) func(obj any) {
		return func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*clustersv1alpha1.Cluster); ok {
				it.seen.add(seen{typ: typ, name: c.Name, rv: c.ResourceVersion, ready: readyOf(c)})
			}
		}
	}
	if _, err := it.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    record("ADDED"),
		UpdateFunc: func(_, obj any) { record("MODIFIED")(obj) },
		DeleteFunc: record("DELETED"),
	}); err != nil {
		t.Fatal(err)
	}
	go it.inf.RunWithContext(ctx)
	return it
}

// listCounts returns how many times each informer has listed.
func listCounts(informers []*informerUnderTest) []int {
	out := make([]int, len(informers))
	for i, it := range informers {
		out[i], _ = it.lw.counts()
	}
	return out
}

// testChanges makes 200 changes to the sources and the members: a
// kubeconfig context added, removed, a member stopped, started. Halfway it
// kills the leader (SIGKILL), later it stops another replica as a rolling
// update does. A kubectl watch and informers, all through the hub and so
// each on a replica picked at random, must see each change once, in
// order; the informers must resume their watches without listing again,
// except those whose replica was killed outright (see below).
func testChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := env.HubClusters(t)

	// Watchers first, each past its initial list: informers, then a
	// kubectl watch on a replica that is not the leader (kubectl does not
	// resume a watch that ends; started again until its watch lands on
	// another replica than the leader, which is killed below).
	const informerCount = 6
	var informers []*informerUnderTest
	for range informerCount {
		it := startInformer(ctx, t, client)
		if !cache.WaitForCacheSync(ctx.Done(), it.inf.HasSynced) {
			t.Fatal("an informer never synced")
		}
		informers = append(informers, it)
	}
	lead := leader(t, 5*time.Second)
	var kubectl *recorder
	var kubectlDone <-chan struct{}
	kubectlOn := -1
	for try := 0; kubectlOn < 0 || kubectlOn == lead; try++ {
		if try == 10 {
			t.Fatalf("kubectl's watch landed on the leader, replica %d, 10 times", lead)
		}
		kctx, kcancel := context.WithCancel(ctx)
		defer kcancel()
		if kubectlDone != nil {
			<-kubectlDone
		}
		kubectl, kubectlDone = kubectlWatch(kctx, t)
		waitFor(t, 30*time.Second, "kubectl to print the current Clusters and watch", func() (bool, string) {
			kubectlOn = -1
			for i := range env.Replicas() {
				if env.ReplicaWatches(i, "kubectl/") > 0 {
					kubectlOn = i
				}
			}
			return len(kubectl.all()) >= 2 && kubectlOn >= 0, fmt.Sprintf("printed %v; watching through replica %d", kubectl.all(), kubectlOn)
		})
		if kubectlOn == lead {
			kcancel()
		}
	}
	t.Logf("kubectl watches through replica %d; the leader is replica %d", kubectlOn, lead)
	routed := env.RoutedRequests()

	const added = 98
	var want []seen // the changes, in order
	names := []string{}
	step := func(s seen, do func(), check func(*clustersv1alpha1.Cluster, error) bool) {
		do()
		visible(t, client, s.name, check)
		want = append(want, s)
	}
	exists := func(c *clustersv1alpha1.Cluster, err error) bool { return err == nil }
	gone := func(_ *clustersv1alpha1.Cluster, err error) bool { return apierrors.IsNotFound(err) }
	readyIs := func(status string) func(*clustersv1alpha1.Cluster, error) bool {
		return func(c *clustersv1alpha1.Cluster, err error) bool { return err == nil && readyOf(c) == status }
	}
	remove := func(k int) {
		names = names[1:]
		step(seen{typ: "DELETED", name: "ha-" + strconv.Itoa(k)}, func() { fleet(t, names) }, gone)
	}

	for k := range added {
		name := "ha-" + strconv.Itoa(k)
		names = append(names, name)
		step(seen{typ: "ADDED", name: name}, func() { fleet(t, names) }, exists)
	}
	for range 2 {
		step(seen{typ: "MODIFIED", name: "member-2", ready: "False"}, func() { env.StopMember(1) }, readyIs("False"))
		step(seen{typ: "MODIFIED", name: "member-2", ready: "True"}, func() {
			if err := env.StartMember(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}, readyIs("True"))
	}
	before := listCounts(informers)

	// Kill the leader, and go on changing at once.
	old := leader(t, 5*time.Second)
	if old != lead {
		t.Fatalf("the leader changed from replica %d to %d on its own", lead, old)
	}
	onOld := env.ReplicaWatches(old, "ha.test/")
	killed := time.Now()
	env.KillReplica(old)
	t.Logf("killed replica %d, the leader, with %d informer watches, after %d changes", old, onOld, len(want))
	var failover time.Duration
	var elected sync.WaitGroup
	elected.Go(func() {
		for ctx.Err() == nil {
			if i, err := env.Leader(ctx); err == nil && i >= 0 {
				failover = time.Since(killed)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	for k := range added / 2 {
		remove(k)
	}
	elected.Wait()
	t.Logf("a new leader %s after the old one was killed", failover.Round(100*time.Millisecond))
	if failover <= 0 || failover > failoverLimit {
		t.Errorf("a new leader took %s; want at most %s", failover, failoverLimit)
	}
	if err := env.StartReplica(ctx, old); err != nil {
		t.Fatal(err)
	}
	afterKill := listCounts(informers)

	// Stop another replica than kubectl's as a rolling update does, and go
	// on changing.
	stopped := -1
	for i := range env.Replicas() {
		if i != kubectlOn && (stopped < 0 || env.ReplicaWatches(i, "ha.test/") > env.ReplicaWatches(stopped, "ha.test/")) {
			stopped = i
		}
	}
	onStopped := env.ReplicaWatches(stopped, "ha.test/")
	env.StopReplica(stopped)
	t.Logf("stopped replica %d, with %d informer watches, after %d changes", stopped, onStopped, len(want))
	for k := added / 2; k < added; k++ {
		remove(k)
	}
	if err := env.StartReplica(ctx, stopped); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d changes; the router sent %d requests to the replicas meanwhile", len(want), env.RoutedRequests()-routed)

	// Every watcher has seen the last change once it has the last
	// deletion.
	last := want[len(want)-1]
	for i, it := range informers {
		waitFor(t, 30*time.Second, fmt.Sprintf("informer %d to see the last change", i), func() (bool, string) {
			_, exists, _ := it.inf.GetStore().GetByKey(last.name)
			return !exists, last.name + " still there"
		})
	}
	waitFor(t, 30*time.Second, "kubectl to print the last change", func() (bool, string) {
		for _, s := range kubectl.all() {
			if s.typ == last.typ && s.name == last.name {
				return true, ""
			}
		}
		select {
		case <-kubectlDone:
			t.Fatalf("kubectl's watch ended before the last change; it saw %d events", len(kubectl.all()))
		default:
		}
		return false, ""
	})
	cancel()
	<-kubectlDone

	final := listCounts(informers)
	t.Logf("informers' lists: %v before the kill, %v after it, %v after the graceful stop", before, afterKill, final)
	relisted := 0
	for i := range informers {
		switch {
		case before[i] != 1:
			t.Errorf("informer %d listed %d times before the kill; want once", i, before[i])
		case afterKill[i] > 2:
			t.Errorf("informer %d listed %d times after the kill; want at most once more", i, afterKill[i]-before[i])
		case final[i] != afterKill[i]:
			t.Errorf("informer %d listed again after replica %d was stopped gracefully; want its watch resumed", i, stopped)
		}
		if afterKill[i] > before[i] {
			relisted++
		}
		checkSeen(t, fmt.Sprintf("informer %d", i), informers[i].seen.all(), want, true, final[i] > 1)
	}
	t.Logf("%d of %d informers listed again after the kill (their watch was on the killed replica); the others resumed", relisted, informerCount)
	if relisted != onOld {
		t.Errorf("%d informers listed again after the kill; want the %d whose watch was on the killed replica", relisted, onOld)
	}
	checkSeen(t, "kubectl get -w", kubectl.all(), want, true, false)
	if onStopped == 0 {
		t.Logf("no informer watched through the replica stopped gracefully: its resumption was not exercised")
	}
}

// checkSeen checks that got, what a client saw, has each change of want
// once and in order, and that from the first change on every event is new
// (resourceVersions increasing, none repeated). A kubectl watch ends when
// the replica serving it dies (kubectl does not resume): then the changes
// it saw must be a prefix of want, unless all. An informer must see them all. One that
// listed again gets, with the list, the changes it missed as updates and
// deletions of older resourceVersions, in no order: for it, each change
// must be seen once.
func checkSeen(t *testing.T, who string, got, want []seen, all, relisted bool) {
	t.Helper()
	start := -1
	for i, s := range got {
		if s.name == want[0].name && s.typ == want[0].typ {
			start = i
			break
		}
	}
	if start < 0 {
		t.Errorf("%s never saw the first change, %s", who, want[0])
		return
	}
	if relisted {
		count := map[string]int{}
		for _, s := range got[start:] {
			if s.typ != "MODIFIED" {
				count[s.typ+" "+s.name]++
			}
		}
		for _, w := range want {
			if w.typ != "MODIFIED" && count[w.typ+" "+w.name] != 1 {
				t.Errorf("%s saw %s %d times; want once", who, w.typ+" "+w.name, count[w.typ+" "+w.name])
			}
		}
		return
	}
	last := int64(0)
	j := 0
	for _, s := range got[start:] {
		rv, err := strconv.ParseInt(s.rv, 10, 64)
		if err != nil || rv <= last {
			t.Errorf("%s: %s comes after resourceVersion %d", who, s, last)
		}
		last = max(last, rv)
		if j < len(want) && s.name == want[j].name && s.typ == want[j].typ && (want[j].ready == "" || want[j].ready == s.ready) {
			j++
			continue
		}
		if s.typ != "MODIFIED" {
			t.Errorf("%s: unexpected %s (after change %d)", who, s, j)
		}
	}
	switch {
	case j == len(want):
		t.Logf("%s saw all %d changes once, in order, among %d events", who, len(want), len(got)-start)
	case all:
		t.Errorf("%s saw %d of the %d changes; next missing: %s", who, j, len(want), want[j])
	default:
		t.Logf("%s saw the first %d of the %d changes once, in order, until its watch ended with the replica serving it", who, j, len(want))
	}
}
