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
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// readyState is a Cluster's Ready condition and version as
// "STATUS REASON VERSION", "<none>" for what is missing.
func readyState(t *testing.T, name string) string {
	t.Helper()
	c, err := env.HubClusters(t).ClustersV1alpha1().Clusters().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	status, reason, version := "<none>", "<none>", "<none>"
	for _, cond := range c.Status.Conditions {
		if cond.Type == "Ready" {
			status, reason = string(cond.Status), cond.Reason
		}
	}
	if c.Status.Version != nil && c.Status.Version.Kubernetes != "" {
		version = c.Status.Version.Kubernetes
	}
	return status + " " + reason + " " + version
}

// TestProxyHealthMarksMembersReady checks that the background probe marks
// the running members Ready with the version each member reports.
func TestProxyHealthMarksMembersReady(t *testing.T) {
	for i, m := range env.Members {
		v, err := env.MemberKube(t, i).Discovery().ServerVersion()
		if err != nil {
			t.Fatalf("%s's version: %v", m.Name, err)
		}
		harness.Eventually(t, 30*time.Second, m.Name+" becomes Ready", func() (bool, string) {
			got := readyState(t, m.Name)
			return got == "True Healthy "+v.GitVersion, got
		})
	}
}

// TestProxyStoppedMember stops member-2 and checks that the proxy answers
// 503 naming it and that it turns Ready=False, then starts it again and
// checks that proxy and Ready recover, all without restarting
// clusters-apiserver.
func TestProxyStoppedMember(t *testing.T) {
	const name = "member-2"
	admin := hubTLS(t, env.HubKubeconfig)
	url := env.HubURL + harness.ProxyPath(name, "/api/v1/namespaces/default")
	readyJSONPath := `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}`
	serverPID := env.ServerPID()

	env.StopMember(1)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			if err := env.StartMember(context.Background(), 1); err != nil {
				t.Errorf("starting %s again: %v", name, err)
			}
		}
	})

	// The deadline bounds a hung request; how fast the answer comes is for
	// --proxy-dial-timeout, not for this test, to say.
	harness.Eventually(t, 30*time.Second, "a proxied request to the stopped member gets 503", func() (bool, string) {
		resp := send(t, admin, http.MethodGet, url, nil, "")
		return resp.code == http.StatusServiceUnavailable && strings.Contains(resp.status().Message, `cluster "`+name+`"`), string(resp.body)
	})
	noCredentials(t, "the 503", string(send(t, admin, http.MethodGet, url, nil, "").body))
	harness.Eventually(t, 30*time.Second, name+" turns Ready=False", func() (bool, string) {
		out, err := kubectlAs(env.HubKubeconfig, "get", "cluster", name, "-o", readyJSONPath)
		return err == nil && out == "False Unreachable", out
	})

	if err := env.StartMember(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	stopped = false
	harness.Eventually(t, 30*time.Second, "the proxy reaches the restarted member", func() (bool, string) {
		resp := send(t, admin, http.MethodGet, url, nil, "")
		return resp.code == http.StatusOK, string(resp.body)
	})
	harness.Eventually(t, 30*time.Second, name+" turns Ready=True", func() (bool, string) {
		out, err := kubectlAs(env.HubKubeconfig, "get", "cluster", name, "-o", readyJSONPath)
		return err == nil && out == "True Healthy", out
	})
	if got := env.ServerPID(); got != serverPID {
		t.Errorf("clusters-apiserver was restarted: pid %d, then %d", serverPID, got)
	}
}
