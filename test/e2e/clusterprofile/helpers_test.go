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
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	cptyped "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned/typed/apis/v1alpha1"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// memberProfile is the ClusterProfile of member-1 that most steps use.
const memberProfile = "cp.fleet.member-1-profile"

// waitTimeout bounds every wait for a change to show: the source reacts
// within about a second, so it only ends a hung test.
const waitTimeout = 30 * time.Second

func profiles(t *testing.T, namespace string) cptyped.ClusterProfileInterface {
	return cpclient.NewForConfigOrDie(env.HubConfig(t)).ApisV1alpha1().ClusterProfiles(namespace)
}

// applyProfile writes cp and its status to the hub, and deletes it when
// the test ends if remove is set.
func applyProfile(t *testing.T, cp *cpv1alpha1.ClusterProfile, remove bool) *cpv1alpha1.ClusterProfile {
	t.Helper()
	stored, err := env.ApplyClusterProfile(t.Context(), cp)
	if err != nil {
		t.Fatal(err)
	}
	if remove {
		t.Cleanup(func() { deleteProfile(t, cp.Namespace, cp.Name) })
	}
	return stored
}

// deleteProfile deletes a ClusterProfile, if it is there.
func deleteProfile(t *testing.T, namespace, name string) {
	t.Helper()
	err := profiles(t, namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting ClusterProfile %s/%s: %v", namespace, name, err)
	}
}

// waitCluster waits until the hub serves Cluster name and cond holds for
// it, and returns it.
func waitCluster(t *testing.T, name string, cond func(*clustersv1alpha1.Cluster) (bool, string)) *clustersv1alpha1.Cluster {
	t.Helper()
	clusters := env.HubClusters(t).ClustersV1alpha1().Clusters()
	var got *clustersv1alpha1.Cluster
	harness.Eventually(t, waitTimeout, "cluster "+name, func() (bool, string) {
		c, err := clusters.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = c
		if cond == nil {
			return true, ""
		}
		return cond(c)
	})
	return got
}

// readyIs is a waitCluster condition: Ready has status and reason.
func readyIs(status metav1.ConditionStatus, reason string) func(*clustersv1alpha1.Cluster) (bool, string) {
	return func(c *clustersv1alpha1.Cluster) (bool, string) {
		r := meta.FindStatusCondition(c.Status.Conditions, clustersv1alpha1.ConditionReady)
		if r == nil {
			return false, "no Ready condition"
		}
		return r.Status == status && r.Reason == reason, string(r.Status) + " " + r.Reason + ": " + r.Message
	}
}

// clusterNames lists the Clusters the hub serves, as kubectl prints them.
func clusterNames(t *testing.T) string {
	t.Helper()
	return env.HubKubectl(t, "get", "clusters", "-o", "name")
}

// proxyGet sends GET path to cluster through the hub's proxy with hub and
// returns the body, or the Status error the hub answered with.
func proxyGet(ctx context.Context, hub kubernetes.Interface, cluster, path string) ([]byte, error) {
	res := hub.CoreV1().RESTClient().Get().AbsPath(harness.ProxyPath(cluster, path)).Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err // decoded from the Status the hub sent
	}
	return res.Raw()
}

// want503 checks that err is a 503 Status whose message has every want.
func want503(t *testing.T, err error, want ...string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != 503 {
		t.Fatalf("got %v; want a 503 Status", err)
	}
	for _, w := range want {
		if msg := status.Status().Message; !strings.Contains(msg, w) {
			t.Errorf("the 503's message lacks %q: %s", w, msg)
		}
	}
}

// serverLog returns clusters-apiserver's log from byte offset from on.
func serverLog(t *testing.T, from int) string {
	t.Helper()
	data, err := os.ReadFile(env.ServerLog())
	if err != nil {
		t.Fatal(err)
	}
	return string(data[min(from, len(data)):])
}

// logSize is the current length of clusters-apiserver's log.
func logSize(t *testing.T) int { return len(serverLog(t, 0)) }

// member1Profile is member-1 as ClusterProfile fleet/member-1-profile
// (memberProfile), reached through secretreader, with a version and a
// property.
func member1Profile() *cpv1alpha1.ClusterProfile {
	cp := env.MemberProfile(0, harness.ProfileNamespace, "member-1-profile")
	cp.Status.Version.Kubernetes = "v0.0.0-profile"
	cp.Status.Properties = []cpv1alpha1.Property{{Name: "region", Value: "e2e-1", LastObservedTime: metav1.Now()}}
	return cp
}
