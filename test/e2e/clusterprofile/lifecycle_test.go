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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// readerBinding is the ClusterRoleBinding of artifacts/deploy that lets
// clusters-apiserver read ClusterProfiles.
const readerBinding = "clusters-apiserver:clusterprofile-reader"

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
