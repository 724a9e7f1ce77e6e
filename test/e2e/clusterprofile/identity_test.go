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

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// testIdentityModes: ClusterProfile clusters impersonate the hub user by
// default, and are reached with the access provider's credential alone
// with --clusterprofile-identity=source.
func testIdentityModes(t *testing.T) {
	kc := env.ProxyKubeconfig(t, memberProfile)
	whoami := func() string {
		out, _, err := env.Kubectl(t.Context(), kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(out)
	}
	if got := whoami(); got != "admin" {
		t.Errorf("by default the member sees %q, want the hub admin impersonated", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := env.RestartServerWith(ctx, "--clusterprofile-identity=source"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := env.RestartServerWith(context.Background()); err != nil {
			t.Errorf("restarting with the default flags: %v", err)
		}
	}()
	harness.Eventually(t, waitTimeout, "the member sees the access provider's credential", func() (bool, string) {
		got := whoami()
		return got == "system:serviceaccount:kube-system:clusterprofile-access", got
	})
}
