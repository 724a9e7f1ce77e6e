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
	"fmt"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 3: watches.
const (
	watchNamespace = "bench-watch"
	watchObject    = "probe"
	watchUpdates   = 100
	heldWatches    = 1000
	// goroutineSlack is how far above its baseline clusters-apiserver's
	// goroutine count may stay once the watches are closed.
	goroutineSlack = 10
)

// watchLatency is event delivery through each path.
type watchLatency struct {
	Updates int       `json:"updates"`
	Direct  durations `json:"direct"`
	Hub     durations `json:"hub"`
	Server  durations `json:"server"`
	// HubExtra and ServerExtra are, per event, the time it reached the
	// proxied watch minus the time it reached the direct one.
	HubExtra    durations `json:"hubMinusDirect"`
	ServerExtra durations `json:"serverMinusDirect"`
}

// heldWatchFigures is what 1,000 open proxied watches cost.
type heldWatchFigures struct {
	Watches              int       `json:"watches"`
	OpenSeconds          float64   `json:"openSeconds"`
	GoroutinesBefore     int       `json:"goroutinesBefore"`
	GoroutinesOpen       int       `json:"goroutinesOpen"`
	GoroutinesAfter      int       `json:"goroutinesAfter"`
	GoroutinesBackAfterS float64   `json:"goroutinesBackToBaselineSeconds"`
	GoroutinesPerWatch   float64   `json:"goroutinesPerWatch"`
	RSSBeforeKB          int64     `json:"rssBeforeKiB"`
	RSSOpenKB            int64     `json:"rssOpenKiB"`
	RSSAfterKB           int64     `json:"rssAfterKiB"`
	RSSPerWatchKB        float64   `json:"rssPerWatchKiB"`
	HeapBefore           float64   `json:"heapInuseBytesBefore"`
	HeapOpen             float64   `json:"heapInuseBytesOpen"`
	HeapPerWatch         float64   `json:"heapInusePerWatchBytes"`
	MemberConns          int       `json:"memberConns"`
	FanOut               durations `json:"fanOut"`
}

// watches is scenario 3: event delivery latency through the proxy next to
// a direct watch, then 1,000 proxied watches held open through the hub.
func (b *bench) watches(ctx context.Context) error {
	kube, err := memberKube(b.env)
	if err != nil {
		return err
	}
	if err := harness.EnsureNamespace(ctx, kube, watchNamespace); err != nil {
		return err
	}
	cm, err := kube.CoreV1().ConfigMaps(watchNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: watchObject}, Data: map[string]string{"n": "0"},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cm, err = kube.CoreV1().ConfigMaps(watchNamespace).Get(ctx, watchObject, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	lat, cm, err := b.watchLatency(ctx, kube, cm)
	if err != nil {
		return err
	}
	b.report.figure("3-watch-latency", lat)
	r := b.report
	line := func(d durations) string { return fmt.Sprintf("p50 %s, p99 %s", fmtMs(d.P50Ms), fmtMs(d.P99Ms)) }
	r.add("3", fmt.Sprintf("watch event delivery (update → event, %d updates): direct", lat.Updates), line(lat.Direct))
	r.add("3", "watch event delivery: through the hub", line(lat.Hub)+"; extra over direct "+line(lat.HubExtra))
	r.add("3", "watch event delivery: clusters-apiserver port", line(lat.Server)+"; extra over direct "+line(lat.ServerExtra))

	held, err := b.holdWatches(ctx, kube, cm)
	if err != nil {
		return err
	}
	b.report.figure("3-held-watches", held)
	r.add("3", fmt.Sprintf("%d proxied watches through the hub: clusters-apiserver memory per watch", held.Watches),
		fmt.Sprintf("%.1f KiB RSS, %.1f KiB heap, %.1f goroutines", held.RSSPerWatchKB, held.HeapPerWatch/1024, held.GoroutinesPerWatch))
	r.add("3", fmt.Sprintf("%d proxied watches: opened in / one update reaches all in", held.Watches),
		fmt.Sprintf("%.1f s / p50 %s, max %s", held.OpenSeconds, fmtMs(held.FanOut.P50Ms), fmtMs(held.FanOut.MaxMs)))
	r.add("3", fmt.Sprintf("%d proxied watches: TCP connections to member-1", held.Watches), strconv.Itoa(held.MemberConns))
	r.check("3", fmt.Sprintf("%d proxied watches closed: goroutines back to baseline", held.Watches),
		fmt.Sprintf("%d → %d open → %d after %.1f s", held.GoroutinesBefore, held.GoroutinesOpen, held.GoroutinesAfter, held.GoroutinesBackAfterS),
		fmt.Sprintf("≤ baseline + %d", goroutineSlack), held.GoroutinesAfter <= held.GoroutinesBefore+goroutineSlack)
	return nil
}

// watchPath is a watch of the probe ConfigMap from resourceVersion rv.
func watchPath(rv string) string {
	q := url.Values{"watch": {"1"}, "fieldSelector": {"metadata.name=" + watchObject}, "resourceVersion": {rv}}
	return "/api/v1/namespaces/" + watchNamespace + "/configmaps?" + q.Encode()
}

// watchLatency updates the probe ConfigMap watchUpdates times, 20 ms apart,
// and times each event on a direct watch and two proxied ones.
func (b *bench) watchLatency(ctx context.Context, kube kubernetes.Interface, cm *corev1.ConfigMap) (watchLatency, *corev1.ConfigMap, error) {
	c := b.clients
	path := watchPath(cm.ResourceVersion)
	eps := []endpoint{c.direct(path), c.viaHub(harness.ProxyPath("member-1", path)), c.viaServer(harness.ProxyPath("member-1", path))}
	streams := make([]*watchStream, len(eps))
	for i, ep := range eps {
		client := httpClient(ep.tls)
		defer client.CloseIdleConnections()
		w, err := openWatch(ctx, client, ep, watchUpdates*2)
		if err != nil {
			return watchLatency{}, nil, err
		}
		defer w.close()
		streams[i] = w
	}
	sent := map[string]time.Time{}
	for i := range watchUpdates {
		cm.Data["n"] = strconv.Itoa(i + 1)
		start := time.Now()
		updated, err := kube.CoreV1().ConfigMaps(watchNamespace).Update(ctx, cm, metav1.UpdateOptions{})
		if err != nil {
			return watchLatency{}, nil, err
		}
		sent[updated.ResourceVersion] = start
		cm = updated
		time.Sleep(20 * time.Millisecond)
	}
	received := make([]map[string]time.Time, len(streams))
	for i, w := range streams {
		received[i] = map[string]time.Time{}
		for len(received[i]) < len(sent) {
			ev, err := w.waitFor(10*time.Second, func(ev watchEvent) bool { return ev.Type == "MODIFIED" })
			if err != nil {
				return watchLatency{}, nil, fmt.Errorf("%s watch: %d of %d events: %w", eps[i].name, len(received[i]), len(sent), err)
			}
			received[i][ev.Object.Metadata.ResourceVersion] = ev.at
		}
	}
	var d [5][]time.Duration
	for rv, at := range sent {
		for i := range streams {
			d[i] = append(d[i], received[i][rv].Sub(at))
		}
		d[3] = append(d[3], received[1][rv].Sub(received[0][rv]))
		d[4] = append(d[4], received[2][rv].Sub(received[0][rv]))
	}
	return watchLatency{
		Updates: len(sent),
		Direct:  summarizeDurations(d[0]), Hub: summarizeDurations(d[1]), Server: summarizeDurations(d[2]),
		HubExtra: summarizeDurations(d[3]), ServerExtra: summarizeDurations(d[4]),
	}, cm, nil
}

// holdWatches opens heldWatches proxied watches through the hub with one
// client, measures clusters-apiserver with them open, sends one update to
// all, closes them and waits for its goroutines to return to baseline.
func (b *bench) holdWatches(ctx context.Context, kube kubernetes.Interface, cm *corev1.ConfigMap) (heldWatchFigures, error) {
	pid := b.env.ServerPID()
	f := heldWatchFigures{Watches: heldWatches}
	var err error
	if f.GoroutinesBefore, err = b.goroutines(ctx); err != nil {
		return f, err
	}
	m, _ := readMemory(pid)
	f.RSSBeforeKB = m.RSS
	heap, err := b.serverMetrics(ctx, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return f, err
	}
	f.HeapBefore = heap["go_memstats_heap_inuse_bytes"]

	ep := b.clients.viaHub(harness.ProxyPath("member-1", watchPath(cm.ResourceVersion)))
	client := httpClient(ep.tls)
	defer client.CloseIdleConnections()
	conns := sampleConns(pid, b.memberPort)
	start := time.Now()
	streams, err := collectWatches(ctx, client, ep, heldWatches, 50)
	if err != nil {
		conns.Peak()
		return f, err
	}
	// Closed below, where the time goroutines take to go is measured;
	// this is for the paths that fail before.
	defer func() {
		for _, w := range streams {
			w.close()
		}
	}()
	f.OpenSeconds = time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // let allocations and goroutines settle
	if f.GoroutinesOpen, err = b.goroutines(ctx); err != nil {
		return f, err
	}
	m, _ = readMemory(pid)
	f.RSSOpenKB = m.RSS
	if heap, err = b.serverMetrics(ctx, "go_memstats_heap_inuse_bytes"); err != nil {
		return f, err
	}
	f.HeapOpen = heap["go_memstats_heap_inuse_bytes"]
	b.snapshot(ctx, "held-watches-heap", "heap")
	b.snapshot(ctx, "held-watches-goroutines", "goroutine")

	cm.Data["n"] = "fan-out"
	sent := time.Now()
	updated, err := kube.CoreV1().ConfigMaps(watchNamespace).Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		return f, err
	}
	var fan []time.Duration
	for _, w := range streams {
		ev, err := w.waitFor(30*time.Second, func(ev watchEvent) bool { return ev.Object.Metadata.ResourceVersion == updated.ResourceVersion })
		if err != nil {
			return f, fmt.Errorf("fan-out to %d watches: %w", heldWatches, err)
		}
		fan = append(fan, ev.at.Sub(sent))
	}
	f.FanOut = summarizeDurations(fan)
	f.MemberConns, _ = conns.Peak()

	closed := time.Now()
	for _, w := range streams {
		w.close()
	}
	client.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if f.GoroutinesAfter, err = b.goroutines(ctx); err != nil {
			return f, err
		}
		if f.GoroutinesAfter <= f.GoroutinesBefore+goroutineSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.GoroutinesBackAfterS = time.Since(closed).Seconds()
	m, _ = readMemory(pid)
	f.RSSAfterKB = m.RSS
	n := float64(heldWatches)
	f.GoroutinesPerWatch = float64(f.GoroutinesOpen-f.GoroutinesBefore) / n
	f.RSSPerWatchKB = float64(f.RSSOpenKB-f.RSSBeforeKB) / n
	f.HeapPerWatch = (f.HeapOpen - f.HeapBefore) / n
	return f, nil
}
