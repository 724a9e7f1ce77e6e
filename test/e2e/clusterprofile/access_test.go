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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"

	clustersv1alpha1 "github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters/v1alpha1"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// credentialFailed starts the message of a proxy error from a failing
// credential plugin.
const credentialFailed = "getting a credential failed"

// offering publishes member-1 as fleet/name through the given access
// provider until the test ends, and returns the Cluster's name.
func offering(t *testing.T, name, provider string, change func(*cpv1alpha1.ClusterProfile)) string {
	t.Helper()
	cp := env.MemberProfile(0, harness.ProfileNamespace, name)
	cp.Status.AccessProviders[0].Name = provider
	if change != nil {
		change(cp)
	}
	applyProfile(t, cp, true)
	return "cp." + harness.ProfileNamespace + "." + name
}

// viaProvider is a waitCluster condition: the Cluster is reached through
// access provider name.
func viaProvider(name string) func(*clustersv1alpha1.Cluster) (bool, string) {
	return func(c *clustersv1alpha1.Cluster) (bool, string) {
		got := c.Spec.Source.ClusterProfile.AccessProvider
		return got == name, "access provider " + got
	}
}

// testProviderChoice: a profile is reached through the first provider of
// the provider file (secretreader, broken, hang) that it offers, in
// status.accessProviders or the deprecated status.credentialProviders.
func testProviderChoice(t *testing.T) {
	tests := []struct {
		name       string
		access     []string // providers offered in status.accessProviders
		credential []string // ... and in status.credentialProviders
	}{
		{name: "e2e-file-order", access: []string{hangProvider, harness.SecretReaderProvider}},
		{name: "e2e-deprecated-field", credential: []string{harness.SecretReaderProvider}},
		{name: "e2e-both-fields", access: []string{hangProvider}, credential: []string{harness.SecretReaderProvider}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cluster := offering(t, tc.name, harness.SecretReaderProvider, func(cp *cpv1alpha1.ClusterProfile) {
				offer := func(names []string) (out []cpv1alpha1.AccessProvider) {
					for _, n := range names {
						ap := *cp.Status.AccessProviders[0].DeepCopy()
						ap.Name = n
						out = append(out, ap)
					}
					return out
				}
				cp.Status.AccessProviders, cp.Status.CredentialProviders = offer(tc.access), offer(tc.credential)
			})
			c := waitCluster(t, cluster, readyIs(metav1.ConditionTrue, "Healthy"))
			if got := c.Spec.Source.ClusterProfile.AccessProvider; got != harness.SecretReaderProvider {
				t.Errorf("accessProvider = %q, want %q", got, harness.SecretReaderProvider)
			}
		})
	}
}

// testNoAccessProvider: a profile whose access providers are all unknown to
// the server is listed, not Ready, and its proxy says why.
func testNoAccessProvider(t *testing.T) {
	cluster := offering(t, "e2e-no-provider", "vendor-x", func(cp *cpv1alpha1.ClusterProfile) {
		cp.Status.Version.Kubernetes = "v1.2.3-profile"
	})
	// Created first and given its status after, the profile offers no
	// provider at all for a moment: wait for the one it offers.
	c := waitCluster(t, cluster, func(c *clustersv1alpha1.Cluster) (bool, string) {
		ok, state := readyIs(metav1.ConditionFalse, "NoAccessProvider")(c)
		return ok && strings.Contains(state, "vendor-x"), state
	})
	ready := meta.FindStatusCondition(c.Status.Conditions, clustersv1alpha1.ConditionReady)
	for _, w := range []string{"vendor-x", harness.SecretReaderProvider, brokenProvider, hangProvider} {
		if !strings.Contains(ready.Message, w) {
			t.Errorf("Ready's message lacks %q: %s", w, ready.Message)
		}
	}
	if c.Status.Version == nil || c.Status.Version.Kubernetes != "v1.2.3-profile" || c.Spec.Server != env.Members[0].URL {
		t.Errorf("version %+v server %s; want the profile's, v1.2.3-profile and %s", c.Status.Version, c.Spec.Server, env.Members[0].URL)
	}
	_, err := proxyGet(t.Context(), env.HubKube(t), cluster, "/version")
	want503(t, err, cluster, "NoAccessProvider", "vendor-x")
}

// testFailingPlugin: a plugin that fails makes its cluster not Ready and
// its proxy answer 503, also right after a working cluster switches to it.
func testFailingPlugin(t *testing.T) {
	hub := env.HubKube(t)
	broken := offering(t, "e2e-broken", brokenProvider, nil)
	waitCluster(t, broken, readyIs(metav1.ConditionFalse, "CredentialError"))
	_, err := proxyGet(t.Context(), hub, broken, "/version")
	want503(t, err, broken, credentialFailed)
	want503(t, err, broken, `credential from access provider "`+brokenProvider+`"`)

	// Served with the secretreader token first...
	switched := offering(t, "e2e-switch", harness.SecretReaderProvider, nil)
	waitCluster(t, switched, readyIs(metav1.ConditionTrue, "Healthy"))
	if _, err := proxyGet(t.Context(), hub, switched, "/version"); err != nil {
		t.Fatalf("the proxy before the switch: %v", err)
	}
	// ...never again once the profile offers only the failing plugin.
	offering(t, "e2e-switch", brokenProvider, nil)
	waitCluster(t, switched, viaProvider(brokenProvider))
	_, err = proxyGet(t.Context(), hub, switched, "/version")
	want503(t, err, switched, credentialFailed)
}

// testHangingPlugin: a plugin that never finishes holds up nothing but its
// own cluster, whose requests fail when --credential-plugin-timeout
// kills it.
func testHangingPlugin(t *testing.T) {
	hub := env.HubKube(t)
	hang := offering(t, "e2e-hang", hangProvider, nil)
	waitCluster(t, hang, viaProvider(hangProvider))

	type result struct {
		err  error
		took time.Duration
	}
	hung := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		start := time.Now()
		_, err := proxyGet(ctx, hub, hang, "/version")
		hung <- result{err, time.Since(start)}
	}()

	// Meanwhile, within a deadline far below the hang: the list and the
	// proxy to member-1 through a working profile.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	names, stderr, err := env.Kubectl(ctx, env.HubKubeconfig, "get", "clusters", "-o", "name")
	if err != nil || !strings.Contains(names, "/"+hang+"\n") {
		t.Errorf("kubectl get clusters while a plugin hangs: %v %s\n%s", err, stderr, names)
	}
	if _, err := proxyGet(ctx, hub, memberProfile, "/version"); err != nil {
		t.Errorf("the proxy to %s while a plugin hangs: %v", memberProfile, err)
	}

	r := <-hung
	want503(t, r.err, hang, credentialFailed)
	want503(t, r.err, hang, "did not finish within its time limit")
	t.Logf("the request to the hanging plugin's cluster failed after %s", r.took.Round(100*time.Millisecond))
	waitCluster(t, hang, readyIs(metav1.ConditionFalse, "CredentialError"))
}
