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
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// readerBinding is the ClusterRoleBinding of artifacts/deploy that lets
// clusters-apiserver read ClusterProfiles.
const readerBinding = "clusters-apiserver:clusterprofile-reader"

// testHubRestart restarts the hub kube-apiserver (same etcd, same flags)
// under a running informer. While the hub starts, its discovery leaves the
// CRD out and its lists fail; no cluster may disappear for that, at any
// moment. After it, kubectl lists every cluster again, the informer has
// resumed its watch (a profile change reaches it), the proxy reaches the
// profile's member, all without restarting clusters-apiserver.
func testHubRestart(t *testing.T) {
	informer := startInformer(t)
	before, from := clusterNames(t), logSize(t)
	m := informer.mark()
	start := time.Now()
	if err := env.RestartHub(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("the hub was back after %s", time.Since(start).Round(time.Millisecond))
	// The hub's aggregator checks that clusters-apiserver is available
	// before it routes to it again.
	harness.Eventually(t, 2*waitTimeout, "kubectl lists every cluster through the restarted hub", func() (bool, string) {
		out, stderr, err := env.Kubectl(t.Context(), env.HubKubeconfig, "get", "clusters", "-o", "name")
		if err != nil {
			return false, stderr
		}
		return out == before, out
	})
	harness.Eventually(t, waitTimeout, "the proxy reaches "+memberProfile+" through the restarted hub", func() (bool, string) {
		_, err := proxyGet(t.Context(), env.HubKube(t), memberProfile, "/version")
		return err == nil, ""
	})
	// The ClusterProfile source and the informer's watch both follow
	// changes again.
	patch := `{"status":{"properties":[{"name":"after-restart","value":"yes","lastObservedTime":"2026-01-01T00:00:00Z"}]}}`
	if _, err := profiles(t, harness.ProfileNamespace).Patch(t.Context(), "member-1-profile", types.MergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, waitTimeout, "the informer sees a change made after the restart", func() (bool, string) {
		_, saw := informer.since(m, "MODIFIED "+memberProfile+" ")
		for _, line := range strings.Split(saw, "; ") {
			if strings.Contains(line, "MODIFIED "+memberProfile+" ") && strings.HasSuffix(line, "props=after-restart=yes") {
				return true, ""
			}
		}
		return false, saw
	})
	if ok, saw := informer.since(m, "DELETED "); ok {
		t.Errorf("a cluster disappeared during the hub's restart: %s", saw)
	}
	if log := serverLog(t, from); strings.Contains(log, "no longer served") {
		t.Errorf("the server concluded the ClusterProfile API was gone during the hub's restart")
	}
}

// testCRDDeleted: deleting the CRD takes the profiles' clusters away, as
// watch events, and leaves the kubeconfig ones; reinstalling it brings
// profiles back without a restart.
func testCRDDeleted(t *testing.T) {
	ws := watchers(t)
	m, from := marks(ws), logSize(t)
	env.HubKubectl(t, "delete", "-f", crd, "--wait=true", "--timeout=60s")
	waitEvent(t, ws, m, "DELETED "+memberProfile+" ")
	harness.Eventually(t, waitTimeout, "the server notices the CRD is gone", func() (bool, string) {
		return strings.Contains(serverLog(t, from), "no longer served"), "not logged yet"
	})
	onlyKubeconfigClusters(t)

	m = marks(ws)
	if err := env.Apply(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	applyProfile(t, member1Profile(), false)
	waitEvent(t, ws, m, "ADDED "+memberProfile+" ")
	waitCluster(t, memberProfile, readyIs(metav1.ConditionTrue, "Healthy"))
}

// testForbidden: a server that may not list profiles starts anyway, serves
// its kubeconfig clusters, says why in its log, and serves profiles as soon
// as it may, without a restart.
func testForbidden(t *testing.T) {
	ctx := t.Context()
	bindings := env.HubKube(t).RbacV1().ClusterRoleBindings()
	saved, err := bindings.Get(ctx, readerBinding, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved.ResourceVersion, saved.UID = "", ""
	restore := func() error {
		_, err := bindings.Create(context.Background(), saved, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Errorf("restoring ClusterRoleBinding %s: %v", readerBinding, err)
		}
	})
	if err := bindings.Delete(ctx, readerBinding, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	from := logSize(t)
	if err := env.RestartServer(ctx); err != nil {
		t.Fatal(err)
	}
	pid := env.ServerPID()
	onlyKubeconfigClusters(t)
	harness.Eventually(t, waitTimeout, "the server logs why it serves no profiles", func() (bool, string) {
		log := serverLog(t, from)
		return strings.Contains(log, "Cannot list ClusterProfiles") && strings.Contains(log, "forbidden"), "not logged yet"
	})

	if err := restore(); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, memberProfile, nil)
	if got := env.ServerPID(); got != pid {
		t.Errorf("clusters-apiserver restarted (process %d, then %d); want the same process to recover", pid, got)
	}
}
