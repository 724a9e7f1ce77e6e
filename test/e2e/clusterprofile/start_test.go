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
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// waitingLog is what the server logs while the hub has no ClusterProfile
// API.
const waitingLog = "waiting for the CRD to be installed"

// onlyKubeconfigClusters fails t unless the hub lists member-1 and member-2
// and no Cluster from a ClusterProfile.
func onlyKubeconfigClusters(t *testing.T) {
	t.Helper()
	names := clusterNames(t)
	if !strings.Contains(names, "/member-1\n") || !strings.Contains(names, "/member-2\n") || strings.Contains(names, "/cp.") {
		t.Errorf("kubectl get clusters listed:\n%s\nwant member-1 and member-2 and no cp.*", names)
	}
}

// testCRDMissingAtStart: the server started on a hub without the
// ClusterProfile CRD, serves its kubeconfig clusters, and serves profiles
// once the CRD is installed.
func testCRDMissingAtStart(t *testing.T) {
	onlyKubeconfigClusters(t)
	if n := strings.Count(serverLog(t, 0), waitingLog); n != 1 {
		t.Errorf("the server logged %q %d times; want once", waitingLog, n)
	}
	if err := env.Apply(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	applyProfile(t, member1Profile(), false)
	waitCluster(t, memberProfile, nil)
}

// testRealPlugin: the secretreader plugin hands the server a member's token
// from a hub Secret; the Cluster mirrors the profile, and the proxy reaches
// the member as the hub user.
func testRealPlugin(t *testing.T) {
	ctx := t.Context()
	version, err := env.MemberKube(t, 0).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	// The profile says v0.0.0-profile; the health checks know better.
	c := waitCluster(t, memberProfile, func(c *clustersv1alpha1.Cluster) (bool, string) {
		ok, state := readyIs(metav1.ConditionTrue, "Healthy")(c)
		return ok && c.Status.Version != nil && c.Status.Version.Kubernetes == version.GitVersion, state
	})
	cp, err := profiles(t, harness.ProfileNamespace).Get(ctx, "member-1-profile", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	wantLabels := map[string]string{clustersv1alpha1.LabelSource: "clusterprofile", cpv1alpha1.LabelClusterManagerKey: harness.ProfileClusterManager}
	if diff := cmp.Diff(wantLabels, c.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantSpec := clustersv1alpha1.ClusterSpec{
		Server:      env.Members[0].URL,
		DisplayName: "member-1",
		Source: clustersv1alpha1.ClusterSource{Type: clustersv1alpha1.SourceTypeClusterProfile, ClusterProfile: &clustersv1alpha1.ClusterProfileSource{
			Namespace: harness.ProfileNamespace, Name: "member-1-profile", ClusterManager: harness.ProfileClusterManager, AccessProvider: harness.SecretReaderProvider}},
	}
	if diff := cmp.Diff(wantSpec, c.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]clustersv1alpha1.ClusterProperty{{Name: "region", Value: "e2e-1"}}, c.Status.Properties); diff != "" {
		t.Errorf("status.properties (-want +got):\n%s", diff)
	}
	if h := meta.FindStatusCondition(c.Status.Conditions, clustersv1alpha1.ConditionControlPlaneHealthy); h == nil || h.Status != metav1.ConditionTrue || h.Reason != "Running" {
		t.Errorf("ControlPlaneHealthy = %+v; want the profile's, True/Running", h)
	}
	if !c.CreationTimestamp.Equal(&cp.CreationTimestamp) {
		t.Errorf("creationTimestamp = %s; want the profile's, %s", c.CreationTimestamp, cp.CreationTimestamp)
	}

	// Through the hub, with the token the plugin read.
	if out := env.HubKubectl(t, "get", "--raw", harness.ProxyPath(memberProfile, "/api/v1/namespaces")); !strings.Contains(out, `"name":"kube-system"`) {
		t.Errorf("member-1's namespaces through the proxy: %s", out)
	}
	// As the hub user: impersonation on top of the plugin's token.
	hubUser := env.HubKubectl(t, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	out, stderr, err := env.Kubectl(ctx, env.ProxyKubeconfig(t, memberProfile), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil || out != hubUser {
		t.Errorf("kubectl auth whoami through the proxy: %q, %v %s; want the hub user %q", out, err, stderr, hubUser)
	}

	// The plugin's token shows nowhere.
	secret, err := env.HubKube(t).CoreV1().Secrets(harness.ProfileNamespace).Get(ctx, "member-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := string(secret.Data["token"])
	for what, text := range map[string]string{
		"the Cluster": env.HubKubectl(t, "get", "cluster", memberProfile, "-o", "yaml"), "the server log": serverLog(t, 0),
	} {
		if token == "" || strings.Contains(text, token) {
			t.Errorf("%s contains the member's token (or the token is empty)", what)
		}
	}
}
