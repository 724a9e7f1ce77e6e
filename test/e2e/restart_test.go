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

package e2e

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestServerRestartRecovers stops clusters-apiserver until the hub sees it
// gone, starts it again with nothing nudging the hub, and checks that the APIService
// returns to Available and that a running informer and kubectl recover on
// their own.
func TestServerRestartRecovers(t *testing.T) {
	clearDynamic(t)
	informer := startInformer(t)

	// A resourceVersion of this server instance, for the next one.
	old, err := env.HubClusters(t).ClustersV1alpha1().Clusters().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A real outage: the hub answers 503 for the group while the server is
	// down, and the informer's watch breaks.
	env.StopServer()
	harness.Eventually(t, 30*time.Second, "the hub notices the outage", func() (bool, string) {
		out, err := kubectlAs(env.HubKubeconfig, "get", "clusters")
		return err != nil && strings.Contains(out, "ServiceUnavailable") || strings.Contains(out, "503"), out
	})
	start := time.Now()
	if err := env.StartServerUnassisted(t.Context()); err != nil {
		t.Fatalf("starting clusters-apiserver again: %v", err)
	}
	cfg, err := env.HubRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	agg := aggregator.NewForConfigOrDie(cfg)
	// The hub's availability controller rechecks at most every 30s.
	harness.Eventually(t, 90*time.Second, "APIService Available again", func() (bool, string) {
		as, err := agg.ApiregistrationV1().APIServices().Get(t.Context(), "v1alpha1.clusters.headlamp.dev", metav1GetOptions)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range as.Status.Conditions {
			if c.Type == apiregistrationv1.Available {
				return c.Status == apiregistrationv1.ConditionTrue, c.Reason + ": " + c.Message
			}
		}
		return false, "no Available condition"
	})
	harness.Eventually(t, 90*time.Second, "kubectl get clusters works again", func() (bool, string) {
		out, err := kubectlAs(env.HubKubeconfig, "get", "clusters", "-o", "name")
		return err == nil && strings.Contains(out, "member-1"), out
	})
	t.Logf("the hub served the restarted server again after %s", time.Since(start).Round(100*time.Millisecond))

	// The new instance answers the old one's resourceVersion with 410 Gone.
	w, err := env.HubClusters(t).ClustersV1alpha1().Clusters().Watch(t.Context(), metav1.ListOptions{ResourceVersion: old.ResourceVersion})
	if err == nil {
		w.Stop()
		t.Errorf("a watch from the previous instance's resourceVersion %s was accepted; want 410 Gone", old.ResourceVersion)
	} else if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("a watch from the previous instance's resourceVersion: %v; want 410 Gone", err)
	}

	// The informer's watch broke; its resourceVersion is from the old
	// process, so it gets 410 Gone and relists, without help.
	writeDynamic(t, map[string]string{"e2e-after-restart": env.Members[1].URL})
	harness.Eventually(t, 2*time.Minute, "the informer sees a change made after the restart", func() (bool, string) {
		return informer.has("add e2e-after-restart")
	})
	t.Logf("the informer recovered %s after the restart", time.Since(start).Round(100*time.Millisecond))
}
