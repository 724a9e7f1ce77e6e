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
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Scenario 5 with ClusterProfiles.
const (
	fleetNamespace = "bench-fleet"
	createWorkers  = 32
	// createBudget bounds the time spent creating profiles; the scenario
	// goes on with as many as were created by then.
	createBudget = 90 * time.Second
	changeLabel  = "bench.clusters.headlamp.dev/rev"
)

// scaleProfiles creates -scale ClusterProfiles on the hub with 32 workers
// and measures a server that reads them. The profiles offer no access
// provider: listing and watching them is what is measured, not reaching
// them (which would run a credential plugin per profile).
func (b *bench) scaleProfiles(ctx context.Context) (scaleFigures, error) {
	f := scaleFigures{Source: "ClusterProfiles on the hub"}
	cfg, err := harness.RESTConfigFor(b.env.HubKubeconfig)
	if err != nil {
		return f, err
	}
	client, err := cpclient.NewForConfig(cfg)
	if err != nil {
		return f, err
	}
	hub, err := hubKube(b.env)
	if err != nil {
		return f, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNamespace}}
	if _, err := hub.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return f, err
	}

	start := time.Now()
	created, err := createProfiles(ctx, client, b.opts.scale, start.Add(createBudget))
	if err != nil {
		return f, err
	}
	f.Clusters = created
	f.SetupSeconds = time.Since(start).Seconds()
	b.logf("  created %d ClusterProfiles in %.1f s", created, f.SetupSeconds)

	providers := filepath.Join(b.work, "providers.json")
	if err := os.WriteFile(providers, []byte(`{"providers":[{"name":"bench","execConfig":{"apiVersion":"client.authentication.k8s.io/v1","command":"/bin/true"}}]}`), 0o600); err != nil {
		return f, err
	}
	const watched = 42
	run := scaleRun{
		name:     "clusterprofiles",
		args:     []string{"--clusterprofile-source", "--clusterprofile-provider-file=" + providers, "--clusterprofile-namespaces=" + fleetNamespace},
		watch:    "cp." + fleetNamespace + "." + profileName(watched),
		hubWatch: true,
		change: func(ctx context.Context, i int) (func(watchEvent) bool, time.Time, error) {
			value := strconv.Itoa(i)
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, changeLabel, value)
			start := time.Now()
			_, err := client.ApisV1alpha1().ClusterProfiles(fleetNamespace).Patch(ctx, profileName(watched), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return func(ev watchEvent) bool { return ev.Object.Metadata.Labels[changeLabel] == value }, start, err
		},
	}
	if err := b.measureScale(ctx, run, &f); err != nil {
		return f, err
	}
	setup := fmt.Sprintf("created with %d workers in %.1f s (%.0f/s)", createWorkers, f.SetupSeconds, float64(f.Clusters)/f.SetupSeconds)
	if f.Clusters < b.opts.scale {
		setup += fmt.Sprintf("; only %d of %d fit in the %s budget", f.Clusters, b.opts.scale, createBudget)
	}
	b.reportScale(f, setup)
	return f, nil
}

func profileName(i int) string { return fmt.Sprintf("c-%05d", i) }

// createProfiles creates profiles c-00000... until n exist or the deadline
// passes, and returns how many exist.
func createProfiles(ctx context.Context, client cpclient.Interface, n int, deadline time.Time) (int, error) {
	var created atomic.Int64
	var firstErr error
	var once sync.Once
	work := make(chan int)
	var wg sync.WaitGroup
	for range createWorkers {
		wg.Go(func() {
			for i := range work {
				cp := &cpv1alpha1.ClusterProfile{
					ObjectMeta: metav1.ObjectMeta{Name: profileName(i), Labels: map[string]string{cpv1alpha1.LabelClusterManagerKey: "bench"}},
					Spec:       cpv1alpha1.ClusterProfileSpec{DisplayName: profileName(i), ClusterManager: cpv1alpha1.ClusterManager{Name: "bench"}},
				}
				_, err := client.ApisV1alpha1().ClusterProfiles(fleetNamespace).Create(ctx, cp, metav1.CreateOptions{})
				if err != nil && !apierrors.IsAlreadyExists(err) {
					once.Do(func() { firstErr = err })
					continue
				}
				created.Add(1)
			}
		})
	}
	for i := range n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return int(created.Load()), fmt.Errorf("creating ClusterProfiles: %w", firstErr)
	}
	return int(created.Load()), nil
}
