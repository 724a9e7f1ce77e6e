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
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 9: kubectl clusters get pods -A across a fleet.
const (
	fleetClusters     = 100
	fleetPods         = 10 // on each member
	fleetPodNamespace = "bench-fleet"
	fleetRuns         = 5
)

// fleetFigures is scenario 9.
type fleetFigures struct {
	Clusters int       `json:"clusters"`
	Rows     int       `json:"rows"`
	Fleet    durations `json:"kubectlClustersGet"`
	Direct   durations `json:"kubectlGetDirect"`
}

// fleetGet is scenario 9: 100 kubeconfig contexts, half reaching member-1
// and half member-2, each with fleetPods pods; kubectl clusters get pods
// -A as the hub's admin, timed whole (process start to exit), against
// kubectl get pods -A straight to member-1.
func (b *bench) fleetGet(ctx context.Context) error {
	plugin := b.opts.pluginBinary
	if plugin == "" {
		var err error
		if plugin, err = harness.BuildPlugin(ctx, b.work); err != nil {
			return err
		}
	}
	for i := range b.env.Members {
		if err := fleetPodsOn(ctx, b.env.Members[i].Kubeconfig); err != nil {
			return err
		}
	}
	members, err := clientcmd.LoadFromFile(b.env.MembersKubeconfig)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	for i := range fleetClusters {
		name, member := fmt.Sprintf("bench-fleet-%03d", i), fmt.Sprintf("member-%d", i%2+1)
		cfg.Clusters[name], cfg.AuthInfos[name] = members.Clusters[member], members.AuthInfos[member]
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	if err := clientcmd.WriteToFile(*cfg, b.fleetSource); err != nil {
		return err
	}
	defer func() { _ = clientcmd.WriteToFile(*clientcmdapi.NewConfig(), b.fleetSource) }()

	run := func(bin string, args ...string) (time.Duration, string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		start := time.Now()
		err := cmd.Run()
		took := time.Since(start)
		if err != nil {
			return took, out.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
		}
		return took, out.String(), nil
	}
	fleetArgs := []string{"--kubeconfig", b.env.HubKubeconfig, "get", "pods", "-A", "--no-headers"}
	// Every fleet cluster answers, with its pods, before timing.
	var rows int
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, out, err := run(plugin, fleetArgs...)
		rows = strings.Count(out, "\n")
		if err == nil && strings.Count(out, "bench-fleet-") >= fleetClusters*fleetPods {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the fleet's %d clusters did not all answer: %d rows, %v", fleetClusters, rows, err)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	f := fleetFigures{Clusters: fleetClusters, Rows: rows}
	var fleet, direct []time.Duration
	for range fleetRuns {
		took, _, err := run(plugin, fleetArgs...)
		if err != nil {
			return err
		}
		fleet = append(fleet, took)
		if took, _, err = run(filepath.Join(b.env.BinDir, "kubectl"), "--kubeconfig", b.env.Members[0].Kubeconfig, "get", "pods", "-A", "--no-headers"); err != nil {
			return err
		}
		direct = append(direct, took)
	}
	f.Fleet, f.Direct = summarizeDurations(fleet), summarizeDurations(direct)
	b.report.figure("9-fleet-get", f)
	b.report.check("9", fmt.Sprintf("kubectl clusters get pods -A across %d clusters (%d rows), worst of %d runs, process start to exit", fleetClusters, rows, fleetRuns),
		fmt.Sprintf("%.2f s (median %.2f s)", f.Fleet.MaxMs/1000, f.Fleet.P50Ms/1000), "< 3 s", f.Fleet.MaxMs < 3000)
	b.report.add("9", "the same, against kubectl get pods -A straight to member-1 (one cluster), medians",
		fmt.Sprintf("%s vs %s: %s for %d clusters", fmtMs(f.Fleet.P50Ms), fmtMs(f.Direct.P50Ms), fmtRatio(f.Fleet.P50Ms/f.Direct.P50Ms), fleetClusters))
	return nil
}

// fleetPodsOn creates fleetPods pods in fleetPodNamespace on the cluster of
// kubeconfig; no scheduler runs, so they stay Pending.
func fleetPodsOn(ctx context.Context, kubeconfig string) error {
	kube, err := kubeFor(kubeconfig)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetPodNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The ServiceAccount admission plugin needs the namespace's default
	// ServiceAccount, which no controller manager makes here.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := kube.CoreV1().ServiceAccounts(fleetPodNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for i := range fleetPods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
		}
		if _, err := kube.CoreV1().Pods(fleetPodNamespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating pod %s/%s: %w", fleetPodNamespace, pod.Name, err)
		}
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
