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
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 2: a LIST of about 10 MB.
const (
	largeNamespace = "bench-large"
	largeObjects   = 1000
	largeValue     = 10 << 10 // bytes of data per ConfigMap
	largeRounds    = 10       // LISTs per variant and encoding
)

// largeVariant is one way of reading the list.
type largeVariant struct {
	stats
	// RSSGrowthKB is clusters-apiserver's peak RSS during the LISTs minus
	// its RSS just before.
	RSSBeforeKB int64 `json:"rssBeforeKiB,omitempty"`
	RSSPeakKB   int64 `json:"rssPeakKiB,omitempty"`
	RSSGrowthKB int64 `json:"rssGrowthKiB,omitempty"`
}

// largeEncoding is scenario 2 for one Accept-Encoding.
type largeEncoding struct {
	Encoding      string       `json:"acceptEncoding"`
	Direct        largeVariant `json:"direct"`
	Hub           largeVariant `json:"hub"`
	Server        largeVariant `json:"server"`
	HubRatio      float64      `json:"hubOverDirectThroughput"`
	ServerRatio   float64      `json:"serverOverDirectThroughput"`
	ListBytes     int64        `json:"listBytes"`
	CreateSeconds float64      `json:"createSeconds,omitempty"`
}

// largeResponse is scenario 2: 1,000 ConfigMaps of 10 KB on member-1,
// listed one LIST at a time directly, through the hub and through
// clusters-apiserver's own port, in turns. Throughput counts the bytes of
// the decoded body. "gzip" is what client-go and kubectl ask for; the
// member compresses, and the proxy passes the compressed bytes through.
// "identity" asks for no compression, which makes the proxy copy all 10 MB.
func (b *bench) largeResponse(ctx context.Context) error {
	kube, err := memberKube(b.env)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := createConfigMaps(ctx, kube, largeNamespace, largeObjects, largeValue); err != nil {
		return err
	}
	created := time.Since(start)
	b.logf("  created %d ConfigMaps of %d KiB in %s", largeObjects, largeValue>>10, created.Round(time.Millisecond))

	path := "/api/v1/namespaces/" + largeNamespace + "/configmaps"
	pid := b.env.ServerPID()
	var out []largeEncoding
	for _, enc := range []string{"gzip", "identity"} {
		res := largeEncoding{Encoding: enc, CreateSeconds: created.Seconds()}
		eps := []struct {
			v  *largeVariant
			ep endpoint
		}{
			{&res.Direct, b.clients.direct(path)},
			{&res.Hub, b.clients.viaHub(harness.ProxyPath("member-1", path))},
			{&res.Server, b.clients.viaServer(harness.ProxyPath("member-1", path))},
		}
		samples := make([][]sample, len(eps))
		cpu := make([]cpuUse, len(eps))
		clients := make([]*http.Client, len(eps))
		for i, e := range eps {
			if enc != "gzip" {
				// For gzip, the transport asks for it and decompresses, as
				// it does for client-go.
				eps[i].ep.header = withHeader(e.ep.header, "Accept-Encoding", enc)
			}
			clients[i] = httpClient(e.ep.tls)
		}
		// One unmeasured LIST each, then rounds in turn so that drift
		// affects every variant alike.
		for round := 0; round <= largeRounds; round++ {
			for i, e := range eps {
				var rss *rssSampler
				var before memory
				if i > 0 && round > 0 {
					before, _ = readMemory(pid)
					rss = sampleRSS(pid)
				}
				meter := b.startCPU()
				s, err := timedGet(ctx, clients[i], e.ep)
				if round > 0 {
					cpu[i].add(meter.stop())
				}
				if rss != nil {
					peak := rss.Peak()
					e.v.RSSBeforeKB = max(e.v.RSSBeforeKB, before.RSS)
					e.v.RSSPeakKB = max(e.v.RSSPeakKB, peak)
					e.v.RSSGrowthKB = max(e.v.RSSGrowthKB, peak-before.RSS)
				}
				if err != nil {
					return err
				}
				if round > 0 {
					samples[i] = append(samples[i], s)
				}
			}
		}
		if b.opts.profileDir != "" {
			// Profile only after measuring: LISTs through clusters-apiserver's
			// port, back to back.
			profiled := b.profile(ctx, "large-server-"+enc, 3*time.Second)
			_, _ = load{concurrency: 1, duration: 3 * time.Second}.run(ctx, eps[2].ep)
			<-profiled
		}
		for i, e := range eps {
			clients[i].CloseIdleConnections()
			e.v.stats = summarizeSequential(samples[i])
			e.v.CPUMsPerRequest = cpu[i].perRequest(len(samples[i]))
		}
		res.ListBytes = samples[0][0].bytes
		res.HubRatio = res.Hub.BytesPerSecond / res.Direct.BytesPerSecond
		res.ServerRatio = res.Server.BytesPerSecond / res.Direct.BytesPerSecond
		out = append(out, res)
		b.reportLarge(res)
	}
	b.report.figure("2-large-response", out)
	return nil
}

func (b *bench) reportLarge(res largeEncoding) {
	r := b.report
	label := func(s string) string {
		return fmt.Sprintf("LIST %s (%d ConfigMaps), Accept-Encoding %s: %s", fmtMB(float64(res.ListBytes)), largeObjects, res.Encoding, s)
	}
	line := func(v largeVariant) string {
		return fmt.Sprintf("%s/s, p50 %s; CPU ms/LIST %s, %.1f cores busy", fmtMB(v.BytesPerSecond), fmtMs(v.P50Ms), fmtCPU(v.CPUMsPerRequest), v.CPUMsPerRequest["busyCores"])
	}
	r.add("2", label("direct"), line(res.Direct))
	r.add("2", label("through the hub"), line(res.Hub))
	r.add("2", label("clusters-apiserver port"), line(res.Server))
	// The targets of issue 15, for both encodings.
	r.check("2", label("throughput through the hub / direct"), fmt.Sprintf("%.1f%%", 100*res.HubRatio), "≥ 80%", res.HubRatio >= 0.80)
	r.check("2", label("throughput clusters-apiserver port / direct"), fmt.Sprintf("%.1f%%", 100*res.ServerRatio), "≥ 95%", res.ServerRatio >= 0.95)
	growth := max(res.Hub.RSSGrowthKB, res.Server.RSSGrowthKB)
	r.check("2", label("clusters-apiserver peak RSS growth"),
		fmt.Sprintf("%s (peak %s)", fmtMiB(growth), fmtMiB(max(res.Hub.RSSPeakKB, res.Server.RSSPeakKB))), "< 10 MB", growth*1024 < 10e6)
}

// summarizeSequential summarizes requests sent one after another: their
// throughput is bytes over the sum of their durations.
func summarizeSequential(samples []sample) stats {
	st := summarize(samples, 0)
	var total time.Duration
	var bytes int64
	for _, s := range samples {
		total += s.end.Sub(s.start)
		bytes += s.bytes
	}
	if total > 0 {
		st.Seconds = total.Seconds()
		st.RPS = float64(len(samples)) / st.Seconds
		st.BytesPerSecond = float64(bytes) / st.Seconds
	}
	return st
}

// createConfigMaps creates n ConfigMaps with size bytes of data each in
// namespace, with 16 workers, unless they are there already.
func createConfigMaps(ctx context.Context, kube kubernetes.Interface, namespace string, n, size int) error {
	if err := harness.EnsureNamespace(ctx, kube, namespace); err != nil {
		return err
	}
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				buf := make([]byte, size*3/4)
				_, _ = rand.Read(buf)
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%04d", i)},
					Data:       map[string]string{"data": base64.StdEncoding.EncodeToString(buf)},
				}
				_, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("creating ConfigMaps: %w", err)
	default:
		return nil
	}
}
