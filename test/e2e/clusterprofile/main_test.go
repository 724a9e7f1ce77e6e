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

// Package clusterprofile tests the ClusterProfile source of
// clusters-apiserver end to end: a real hub whose ClusterProfile CRD comes
// and goes, real members reached through the Cluster Inventory API's own
// secretreader credential plugin, the real kubectl, all started by
// test/harness on 127.0.0.1.
package clusterprofile

import (
	"context"
	"os"
	"testing"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// Access providers of the provider file besides secretreader.
const (
	// brokenProvider's plugin fails, saying why on stderr.
	brokenProvider = "broken"
	// hangProvider's plugin does not finish before
	// --credential-plugin-timeout, nor for minutes after.
	hangProvider = "hang"
	// teamNamespace is read besides harness.ProfileNamespace.
	teamNamespace = "team-a"
)

// env is the hub, members and clusters-apiserver shared by every test.
var env *harness.Env

// crd is the ClusterProfile CRD, which the hub does not have at start.
var crd string

func TestMain(m *testing.M) {
	os.Exit(harness.RunSuite(m, &env, harness.Suite{
		Name:     "clusterprofile",
		Binaries: []string{"secretreader-plugin"},
		Options: harness.Options{
			Members: 2,
			ClusterProfiles: &harness.ClusterProfileOptions{Providers: []access.Provider{
				plugin(brokenProvider, "sh", "-c", "echo 'e2e: the vault is sealed' >&2; exit 1"),
				// Bounded, so that no plugin outlives the test for long,
				// whatever happens to the server running it.
				plugin(hangProvider, "sleep", "3600"),
			}},
			ServerArgs: []string{
				"--clusterprofile-namespaces=" + harness.ProfileNamespace + "," + teamNamespace,
				"--clusterprofile-check-interval=1s",
				"--credential-plugin-timeout=2s",
				"--health-probe-interval=1s",
				"--health-probe-max-interval=2s",
			},
		},
		Prepare: func(ctx context.Context, _ string, _ *harness.Options) (err error) {
			crd, err = harness.ClusterProfileCRD(ctx)
			return err
		},
	}))
}

// plugin is an access provider that runs command.
func plugin(name, command string, args ...string) access.Provider {
	return access.Provider{Name: name, ExecConfig: &clientcmdapi.ExecConfig{
		APIVersion: "client.authentication.k8s.io/v1", Command: command, Args: args,
		InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
	}}
}

// TestClusterProfileSource runs the steps in order: each builds on the
// hub's state that the earlier ones left (the CRD installed, member-1
// published as fleet/member-1-profile), and the last restarts the server.
// A failed step stops the run only when the later ones need what it sets up.
func TestClusterProfileSource(t *testing.T) {
	steps := []struct {
		name       string
		test       func(t *testing.T)
		foundation bool
	}{
		{"CRD missing at start", testCRDMissingAtStart, true},
		{"real plugin reaches a member", testRealPlugin, true},
		{"changes are watch events", testLiveChanges, false},
		{"namespaces and label selector", testSelection, false},
		{"choice of access provider", testProviderChoice, false},
		{"no matching access provider", testNoAccessProvider, false},
		{"failing plugin", testFailingPlugin, false},
		{"hanging plugin", testHangingPlugin, false},
		{"profiles are untrusted", testUntrustedProfiles, false},
		{"identity modes", testIdentityModes, false},
		{"hub restarts", testHubRestart, true},
		{"CRD deleted and reinstalled", testCRDDeleted, true},
		{"forbidden to list profiles", testForbidden, false},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.test) && step.foundation {
			t.Fatalf("stopping: later steps build on %q", step.name)
		}
	}
}
