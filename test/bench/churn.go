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

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

const (
	churnNamespace = "bench-churn"
	churnRounds    = 2
	// churnPerRound is the figure: 10,000 distinct ClusterProfiles
	// created and deleted (each round runs every profile's plugin at least
	// once, for the proxied request and the health checks).
	churnPerRound = 10000
	churnWorkers  = 16
	// churnSettle is how long after the last round the last sample is
	// taken: past the inventory's two minutes of watch events.
	churnSettle = 150 * time.Second
)

// churnSample is clusters-apiserver's state at one point of the churn.
type churnSample struct {
	Clusters  int   `json:"clusters"`
	RSSKB     int64 `json:"rssKB"`
	HeapInUse int64 `json:"heapInUseBytes"` // after a forced GC
	Goroutine int   `json:"goroutines"`
	Series    int   `json:"proxySeries"` // clusters_proxy_* series with a cluster label
}

// churnFigures are scenario 7's numbers.
type churnFigures struct {
	PerRound int           `json:"perRound"`
	Rounds   int           `json:"rounds"`
	Baseline churnSample   `json:"baseline"`
	Peaks    []churnSample `json:"peaks"`
	Afters   []churnSample `json:"afters"`
	Settled  churnSample   `json:"settled"` // churnSettle after the last round
	Seconds  float64       `json:"seconds"`
}

// churn is scenario 7: rounds of creating distinct ClusterProfiles that
// offer an access provider (an exec plugin), proxying a request to each
// (which builds its transport and runs its plugin) while health checks run,
// and deleting them all; after each round, clusters-apiserver's memory,
// goroutines and proxy metric series are compared with the baseline.
func (b *bench) churn(ctx context.Context) error {
	start := time.Now()
	f := churnFigures{PerRound: min(b.opts.scale, churnPerRound), Rounds: churnRounds}
	cfg, err := harness.RESTConfigFor(b.env.HubKubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0
	client, err := cpclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	hub, err := hubKube(b.env)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: churnNamespace}}
	if _, err := hub.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// A plugin that prints nothing: every transport is built, and every
	// credential fails, without a member to reach.
	providers := filepath.Join(b.work, "churn-providers.json")
	if err := os.WriteFile(providers, []byte(`{"providers":[{"name":"churn","execConfig":{"apiVersion":"client.authentication.k8s.io/v1","command":"/bin/true"}}]}`), 0o600); err != nil {
		return err
	}
	srv, err := b.startOwnServer(ctx, "churn", "--clusterprofile-source", "--clusterprofile-provider-file="+providers,
		"--clusterprofile-namespaces="+churnNamespace, "--clusterprofile-check-interval=1s")
	if err != nil {
		return err
	}
	defer srv.stop()
	pid := srv.pid()
	profiles := client.ApisV1alpha1().ClusterProfiles(churnNamespace)

	if f.Baseline, err = b.churnSample(ctx, pid, "baseline"); err != nil {
		return err
	}
	b.logf("  baseline: %+v", f.Baseline)
	for round := range churnRounds {
		names := make([]string, f.PerRound)
		for i := range names {
			names[i] = fmt.Sprintf("churn-%d-%05d", round, i)
		}
		if err := parallel(ctx, names, func(name string) error {
			cp, err := profiles.Create(ctx, &cpv1alpha1.ClusterProfile{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       cpv1alpha1.ClusterProfileSpec{DisplayName: name, ClusterManager: cpv1alpha1.ClusterManager{Name: "bench"}},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			cp.Status.AccessProviders = []cpv1alpha1.AccessProvider{{Name: "churn", Cluster: clientcmdCluster("https://" + name + ".invalid:6443")}}
			_, err = profiles.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
			return err
		}); err != nil {
			return fmt.Errorf("round %d: creating profiles: %w", round, err)
		}
		if err := b.waitClusters(ctx, f.Baseline.Clusters+f.PerRound); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		b.logf("  round %d: %d profiles created and listed after %.0f s", round, f.PerRound, time.Since(start).Seconds())
		// One proxied request each: a transport, a plugin run, series.
		proxyClient := httpClient(b.clients.server)
		if err := parallel(ctx, names, func(name string) error {
			_, _ = get(ctx, proxyClient, b.clients.viaServer(clustersPath+"/cp."+churnNamespace+"."+name+"/proxy/version"))
			return nil
		}); err != nil {
			return err
		}
		proxyClient.CloseIdleConnections()
		peak, err := b.churnSample(ctx, pid, fmt.Sprintf("peak-%d", round))
		if err != nil {
			return err
		}
		f.Peaks = append(f.Peaks, peak)
		b.logf("  round %d with %d profiles: %+v", round, f.PerRound, peak)

		b.logf("  round %d: created and proxied to after %.0f s", round, time.Since(start).Seconds())
		if err := parallel(ctx, names, func(name string) error {
			if err := profiles.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return nil
		}); err != nil {
			return fmt.Errorf("round %d: deleting profiles: %w", round, err)
		}
		if err := b.waitClusters(ctx, f.Baseline.Clusters); err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		// A moment for the transports, connections and series of the
		// removed clusters to go, which follows the inventory's change.
		time.Sleep(5 * time.Second)
		after, err := b.churnSample(ctx, pid, fmt.Sprintf("after-%d", round))
		if err != nil {
			return err
		}
		f.Afters = append(f.Afters, after)
		b.logf("  round %d after deleting them: %+v", round, after)
	}
	// What stays for a while after a churn, by design, goes: the watch
	// events of the removed clusters (kept two minutes) and the memory the
	// Go runtime returns to the system over minutes.
	b.logf("  waiting %s for what is kept for a while to go", churnSettle)
	time.Sleep(churnSettle)
	if f.Settled, err = b.churnSample(ctx, pid, "settled"); err != nil {
		return err
	}
	b.logf("  %s after the last round: %+v", churnSettle, f.Settled)
	f.Seconds = time.Since(start).Seconds()
	b.report.figure("7-churn", f)
	last := f.Afters[len(f.Afters)-1]
	setup := fmt.Sprintf("%d rounds of %d ClusterProfiles created, proxied to once each, deleted", f.Rounds, f.PerRound)
	b.report.add("7 churn", "setup", setup)
	b.report.check("7 churn", "proxy metric series after the last round", fmt.Sprint(last.Series), "= baseline ("+fmt.Sprint(f.Baseline.Series)+")", last.Series <= f.Baseline.Series)
	b.report.check("7 churn", "goroutines after the last round", fmt.Sprint(last.Goroutine), "≤ baseline + 20 ("+fmt.Sprint(f.Baseline.Goroutine)+")", last.Goroutine <= f.Baseline.Goroutine+20)
	b.report.add("7 churn", "heap in use: baseline; peaks; 5 s after each round", fmt.Sprintf("%s; %s; %s", fmtMiB(f.Baseline.HeapInUse/1024), heaps(f.Peaks), heaps(f.Afters)))
	b.report.add("7 churn", "RSS: baseline; peaks; 5 s after each round", fmt.Sprintf("%s; %s; %s", fmtMiB(f.Baseline.RSSKB), rsses(f.Peaks), rsses(f.Afters)))
	b.report.check("7 churn", "heap in use "+churnSettle.String()+" after the last round", fmtMiB(f.Settled.HeapInUse/1024),
		"≤ 2 × baseline ("+fmtMiB(2*f.Baseline.HeapInUse/1024)+")", f.Settled.HeapInUse <= 2*f.Baseline.HeapInUse)
	b.report.check("7 churn", "RSS "+churnSettle.String()+" after the last round", fmtMiB(f.Settled.RSSKB),
		"≤ 2 × baseline ("+fmtMiB(2*f.Baseline.RSSKB)+")", f.Settled.RSSKB <= 2*f.Baseline.RSSKB)
	return nil
}

func heaps(s []churnSample) string {
	var out []string
	for _, x := range s {
		out = append(out, fmtMiB(x.HeapInUse/1024))
	}
	return strings.Join(out, ", ")
}

func rsses(s []churnSample) string {
	var out []string
	for _, x := range s {
		out = append(out, fmtMiB(x.RSSKB))
	}
	return strings.Join(out, ", ")
}

// clientcmdCluster is an access provider's cluster entry for server.
func clientcmdCluster(server string) clientcmdv1.Cluster {
	return clientcmdv1.Cluster{Server: server}
}

// parallel runs fn for each name on churnWorkers goroutines and returns the
// first error.
func parallel(ctx context.Context, names []string, fn func(string) error) error {
	work := make(chan string)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range churnWorkers {
		wg.Go(func() {
			for name := range work {
				if err := fn(name); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		work <- n
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// waitClusters waits until clusters-apiserver lists n clusters.
func (b *bench) waitClusters(ctx context.Context, n int) error {
	client := httpClient(b.clients.server)
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		got, err := b.listedClusters(ctx, client)
		if err != nil || got == n {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d clusters listed after 10 minutes, want %d", got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listedClusters is how many clusters clusters-apiserver lists.
func (b *bench) listedClusters(ctx context.Context, client *http.Client) (int, error) {
	body, err := getBody(ctx, client, b.clients.viaServer(clustersPath), nil)
	if err != nil {
		return 0, err
	}
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	err = json.Unmarshal(body, &l)
	return len(l.Items), err
}

// churnSample measures clusters-apiserver: clusters listed, RSS, heap in
// use after a forced GC, goroutines and proxy series. With -profile-dir,
// the heap profile is saved there as churn-<label>.heap.pb.gz.
func (b *bench) churnSample(ctx context.Context, pid int, label string) (churnSample, error) {
	var s churnSample
	client := httpClient(b.clients.server)
	defer client.CloseIdleConnections()
	var err error
	if s.Clusters, err = b.listedClusters(ctx, client); err != nil {
		return s, err
	}
	// A heap profile with gc=1 runs a garbage collection first. Two:
	// what sync.Pools hold (JSON encoding buffers of the last large
	// list) survives one collection in their victim caches.
	var heap []byte
	for range 2 {
		if heap, err = getBody(ctx, client, b.clients.viaServer("/debug/pprof/heap?gc=1"), nil); err != nil {
			return s, fmt.Errorf("forcing a GC: %w", err)
		}
	}
	if b.opts.profileDir != "" {
		if err := os.WriteFile(filepath.Join(b.opts.profileDir, "churn-"+label+".heap.pb.gz"), heap, 0o600); err != nil {
			return s, err
		}
	}
	metrics, err := getBody(ctx, client, b.clients.viaServer("/metrics"), nil)
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(metrics), "\n") {
		switch {
		case strings.HasPrefix(line, "clusters_proxy_") && strings.Contains(line, `cluster="`):
			s.Series++
		case strings.HasPrefix(line, "go_goroutines "):
			_, _ = fmt.Sscan(strings.TrimPrefix(line, "go_goroutines "), &s.Goroutine)
		case strings.HasPrefix(line, "go_memstats_heap_inuse_bytes "):
			var v float64
			_, _ = fmt.Sscan(strings.TrimPrefix(line, "go_memstats_heap_inuse_bytes "), &v)
			s.HeapInUse = int64(v)
		}
	}
	m, err := readMemory(pid)
	s.RSSKB = m.RSS
	return s, err
}
