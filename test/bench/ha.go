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
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/hubstate"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// haFigures are scenario 8's.
type haFigures struct {
	Clusters            int     `json:"clusters"`
	Replicas            int     `json:"replicas"`
	PublishedSeconds    float64 `json:"publishedSeconds"`
	ReadySeconds        float64 `json:"readySeconds"`
	ColdStartWrites     float64 `json:"coldStartWrites"`
	ColdStartWritesPerS float64 `json:"coldStartWritesPerSecond"`
	SteadyWritesPerS    float64 `json:"steadyWritesPerSecond"`
	SteadyChecksPerS    float64 `json:"steadyChecksPerSecond"`
	StateBytes          int64   `json:"stateBytes"`
	FollowerWatchMs     []int64 `json:"followerWatchMs"`
	LeaderWatchMs       []int64 `json:"leaderWatchMs"`
	// A cold start whose members cannot be reached: no TLS handshakes.
	UnreachableSeconds float64 `json:"unreachableCheckedSeconds"`
	UnreachableWrites  float64 `json:"unreachableWrites"`
}

// haArgs are the replicas' flags in scenario 8: health checks fast enough
// for 10,000 members to be checked within the goal.
var haArgs = []string{"--health-probe-interval=30s", "--health-probe-max-rate=1000", "--health-probe-workers=64"}

// haScale is scenario 8: three replicas with --leader-elect behind a
// router that sends each request to one at random, on a hub and a member
// of their own, serving -scale kubeconfig contexts that reach the member.
// It measures a cold start (every ClusterState published, then every
// Cluster Ready), the hub writes it costs and those of a steady state,
// the size of the ClusterStates, and how long a change takes to reach a
// watch through a replica that is not the leader, and through the leader.
func (b *bench) haScale(ctx context.Context) error {
	f := haFigures{Clusters: b.opts.scale, Replicas: 3}
	work := filepath.Join(b.work, "ha")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	b.logf("  starting a hub, a member and 3 replicas for scenario 8")
	env, err := harness.Start(ctx, harness.Options{WorkDir: work, Members: 1, Replicas: f.Replicas, ServerArgs: b.opts.extraServerArgs(),
		Log: func(format string, args ...any) { b.logf("  "+format, args...) }})
	if err != nil {
		return err
	}
	defer env.Stop()
	source, change, err := writeHAKubeconfig(env, filepath.Join(work, "fleet.kubeconfig"), env.Members[0].URL, f.Clusters)
	if err != nil {
		return err
	}
	cfg, err := harness.RESTConfigFor(env.HubKubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS = -1
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	states := dyn.Resource(hubstate.Resource)

	// Cold start: no ClusterState on the hub.
	env.UseServer(b.serverBinary)
	start := time.Now()
	if err := env.RestartServerWith(ctx, append([]string{"--kubeconfig-source=" + source}, haArgs...)...); err != nil {
		return err
	}
	b.logf("  replicas ready in %.1f s", time.Since(start).Seconds())
	if b.opts.profileDir != "" {
		// The leader's CPU in the first 30 s of the cold start.
		go func() {
			lead, err := env.Leader(ctx)
			if err != nil || lead < 0 {
				return
			}
			for _, kind := range []string{"profile?seconds=30", "heap"} {
				code, body, err := env.ReplicaGet(ctx, lead, "/debug/pprof/"+kind)
				if err == nil && code == http.StatusOK {
					name := strings.SplitN(kind, "?", 2)[0]
					_ = os.WriteFile(filepath.Join(b.opts.profileDir, "8-leader-cold-start."+name+".pb.gz"), body, 0o600)
				}
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for f.ReadySeconds == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("not every Cluster published and Ready within 5 minutes")
		}
		list, err := states.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, item := range list.Items {
			s, err := hubstate.Decode(&item)
			if err != nil {
				return err
			}
			if meta.IsStatusConditionTrue(s.Cluster.Status.Conditions, "Ready") {
				ready++
			}
		}
		if f.PublishedSeconds == 0 && len(list.Items) >= f.Clusters {
			f.PublishedSeconds = time.Since(start).Seconds()
		}
		if ready >= f.Clusters {
			f.ReadySeconds = time.Since(start).Seconds()
		}
		time.Sleep(250 * time.Millisecond)
	}
	f.ColdStartWrites, err = sumMetric(ctx, env, "clusters_clusterstate_writes_total")
	if err != nil {
		return err
	}
	f.ColdStartWritesPerS = f.ColdStartWrites / f.ReadySeconds
	b.logf("  %d ClusterStates published in %.1f s, all Ready in %.1f s, %.0f writes", f.Clusters, f.PublishedSeconds, f.ReadySeconds, f.ColdStartWrites)

	// Steady state: nothing changes for 30 s.
	const steady = 30 * time.Second
	checks0, err := sumMetric(ctx, env, "clusters_health_checks_total")
	if err != nil {
		return err
	}
	time.Sleep(steady)
	writes1, err := sumMetric(ctx, env, "clusters_clusterstate_writes_total")
	if err != nil {
		return err
	}
	checks1, err := sumMetric(ctx, env, "clusters_health_checks_total")
	if err != nil {
		return err
	}
	f.SteadyWritesPerS = (writes1 - f.ColdStartWrites) / steady.Seconds()
	f.SteadyChecksPerS = (checks1 - checks0) / steady.Seconds()

	// The ClusterStates as the hub stores them (JSON).
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/apis/" + hubstate.Resource.GroupVersion().String() + "/clusterstates").DoRaw(ctx)
	if err != nil {
		return err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	for _, item := range list.Items {
		f.StateBytes += int64(len(item))
	}

	// Watch latency: a change of one context, seen through a follower and
	// through the leader.
	lead, err := env.Leader(ctx)
	if err != nil || lead < 0 {
		return fmt.Errorf("no leader: %v", err)
	}
	follower := (lead + 1) % f.Replicas
	for i := range 5 {
		host := []string{"localhost", "127.0.0.1"}[i%2]
		got := make(chan haEvent, 2)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		for _, r := range []int{follower, lead} {
			ready := make(chan struct{})
			go watchOne(wctx, env, r, "bench-00042", host, ready, got)
			<-ready
		}
		written := time.Now()
		if err := change(42, host); err != nil {
			cancel()
			return err
		}
		for range 2 {
			select {
			case g := <-got:
				ms := g.at.Sub(written).Milliseconds()
				if g.replica == lead {
					f.LeaderWatchMs = append(f.LeaderWatchMs, ms)
				} else {
					f.FollowerWatchMs = append(f.FollowerWatchMs, ms)
				}
			case <-wctx.Done():
				cancel()
				return fmt.Errorf("a watch did not see change %d within 30 s", i)
			}
		}
		cancel()
	}

	// A second cold start, whose members are behind a closed port: each
	// check fails at once, without a TLS handshake, so that what is
	// measured is electing, publishing and serving.
	env.StopServer()
	if err := states.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	closed, err := closedURL()
	if err != nil {
		return err
	}
	unreachable, _, err := writeHAKubeconfig(env, filepath.Join(work, "closed.kubeconfig"), closed, f.Clusters)
	if err != nil {
		return err
	}
	for {
		list, err := states.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	start = time.Now()
	if err := env.RestartServerWith(ctx, append([]string{"--kubeconfig-source=" + unreachable}, haArgs...)...); err != nil {
		return err
	}
	deadline = time.Now().Add(5 * time.Minute)
	for f.UnreachableSeconds == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("not every unreachable Cluster published with a verdict within 5 minutes")
		}
		list, err := states.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		checked := 0
		for _, item := range list.Items {
			s, err := hubstate.Decode(&item)
			if err != nil {
				return err
			}
			if r := meta.FindStatusCondition(s.Cluster.Status.Conditions, "Ready"); r != nil && r.Reason != "Pending" {
				checked++
			}
		}
		if checked >= f.Clusters {
			f.UnreachableSeconds = time.Since(start).Seconds()
		}
		time.Sleep(250 * time.Millisecond)
	}
	if f.UnreachableWrites, err = sumMetric(ctx, env, "clusters_clusterstate_writes_total"); err != nil {
		return err
	}
	b.logf("  %d unreachable Clusters published with their verdict in %.1f s, %.0f writes", f.Clusters, f.UnreachableSeconds, f.UnreachableWrites)

	b.report.figure("8-ha", f)
	b.report.add("8", "replicas, clusters", fmt.Sprintf("%d replicas with --leader-elect behind a random router; %d kubeconfig contexts reaching one member; %s", f.Replicas, f.Clusters, strings.Join(haArgs, " ")))
	b.report.add("8", "cold start: every ClusterState published", fmt.Sprintf("%.1f s", f.PublishedSeconds))
	b.report.check("8", "cold start: every Cluster Ready (10,000 TLS health checks of one member on the same 2 cores)", fmt.Sprintf("%.1f s", f.ReadySeconds), "< 30 s", f.ReadySeconds < 30)
	b.report.add("8", "hub writes, cold start", fmt.Sprintf("%.0f writes, %.0f/s", f.ColdStartWrites, f.ColdStartWritesPerS))
	b.report.check("8", "cold start, members unreachable (no TLS): every Cluster published with its verdict", fmt.Sprintf("%.1f s, %.0f writes", f.UnreachableSeconds, f.UnreachableWrites), "< 30 s", f.UnreachableSeconds < 30)
	b.report.add("8", "hub writes, steady state", fmt.Sprintf("%.2f/s (health checks %.0f/s, by the leader alone)", f.SteadyWritesPerS, f.SteadyChecksPerS))
	b.report.add("8", "ClusterStates stored", fmt.Sprintf("%s (%.0f bytes each, JSON)", fmtMB(float64(f.StateBytes)), float64(f.StateBytes)/float64(max(len(list.Items), 1))))
	b.report.add("8", "a change to a watch, through a follower", fmtLatencies(f.FollowerWatchMs))
	b.report.add("8", "a change to a watch, through the leader", fmtLatencies(f.LeaderWatchMs))
	return nil
}

func fmtLatencies(ms []int64) string {
	s := slices.Clone(ms)
	slices.Sort(s)
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("median %d ms, max %d ms (%d changes; from the file written to the event, the source's and the leader's work included)", s[len(s)/2], s[len(s)-1], len(s))
}

// sumMetric adds up a metric over the running replicas.
func sumMetric(ctx context.Context, env *harness.Env, name string) (float64, error) {
	var sum float64
	for i := range env.Replicas() {
		if !env.ReplicaRunning(i) {
			continue
		}
		v, err := env.ReplicaMetric(ctx, i, name)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// watchOne watches the Cluster name straight on replica r, from now, and
// sends on got when the event whose server has host arrives.
func watchOne(ctx context.Context, env *harness.Env, r int, name, host string, ready chan<- struct{}, got chan<- haEvent) {
	var once sync.Once
	markReady := func() { once.Do(func() { close(ready) }) }
	defer markReady()
	tlsCfg, headers, err := env.FrontProxyTLS()
	if err != nil {
		return
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.ReplicaURL(r)+"/apis/clusters.headlamp.dev/v1alpha1/clusters?watch=1&fieldSelector=metadata.name%3D"+name, http.NoBody)
	if err != nil {
		return
	}
	maps.Copy(req.Header, headers)
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	markReady()
	d := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev watchEvent
		if err := d.Decode(&ev); err != nil {
			return
		}
		if ev.Type == "MODIFIED" && strings.Contains(ev.Object.Spec.Server, "://"+host+":") {
			got <- haEvent{replica: r, at: time.Now()}
			return
		}
	}
}

// haEvent is when a replica's watch delivered the change.
type haEvent struct {
	replica int
	at      time.Time
}

// writeHAKubeconfig writes a kubeconfig of n contexts reaching server with
// member-1's credentials, and returns its path and a function that rewrites it with context i's
// server spelled with host.
func writeHAKubeconfig(env *harness.Env, path, server string, n int) (string, func(i int, host string) error, error) {
	members, err := clientcmd.LoadFromFile(env.MembersKubeconfig)
	if err != nil {
		return "", nil, err
	}
	cluster, user := members.Clusters["member-1"], members.AuthInfos["member-1"]
	ca := base64.StdEncoding.EncodeToString(cluster.CertificateAuthorityData)
	cert := base64.StdEncoding.EncodeToString(user.ClientCertificateData)
	key := base64.StdEncoding.EncodeToString(user.ClientKeyData)
	write := func(changed int, host string) error {
		tmp := path + ".tmp"
		out, err := os.Create(tmp)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(out, 1<<20)
		// One cluster and user entry for all: the file is read fast, and
		// the contexts are what is measured.
		fmt.Fprintf(w, "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", server, ca)
		fmt.Fprintf(w, "- name: changed\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", strings.Replace(server, "127.0.0.1", host, 1), ca)
		fmt.Fprintf(w, "users:\n- name: u\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\ncontexts:\n", cert, key)
		for i := range n {
			c := "m"
			if i == changed {
				c = "changed"
			}
			fmt.Fprintf(w, "- name: bench-%05d\n  context:\n    cluster: %s\n    user: u\n", i, c)
		}
		if err := w.Flush(); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}
	return path, write, write(-1, "")
}

// closedURL returns an https URL of a loopback port nothing listens on.
func closedURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "https://" + l.Addr().String(), nil
}
