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

// Package ha tests several clusters-apiserver replicas serving one Cluster
// API end to end: three real replicas with --leader-elect behind a router
// that sends each request to one of them at random, registered on a real
// hub, real members, the real kubectl and client-go informers.
package ha

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// env is the hub, members and replicas shared by every test.
var env *harness.Env

// fleetDir is a --kubeconfig-source directory the tests write to.
var fleetDir string

func TestMain(m *testing.M) {
	os.Exit(harness.RunSuite(m, &env, harness.Suite{
		Name: "ha",
		Options: harness.Options{
			Members:  2,
			Replicas: 3,
			ServerArgs: []string{
				"--kubeconfig-source-poll-interval=100ms",
				"--health-probe-interval=2s",
				"--health-probe-max-interval=4s",
			},
		},
		Prepare: func(_ context.Context, work string, opts *harness.Options) error {
			fleetDir = filepath.Join(work, "fleet")
			if err := os.MkdirAll(fleetDir, 0o700); err != nil {
				return err
			}
			opts.ServerArgs = append(opts.ServerArgs, "--kubeconfig-source="+fleetDir)
			return nil
		},
	}))
}

// TestReplicas runs the steps in order, on the state the earlier ones left.
func TestReplicas(t *testing.T) {
	steps := []struct {
		name string
		test func(t *testing.T)
	}{
		{"one leader checks the members", testOneLeader},
		{"every replica serves the same objects", testSameObjects},
		{"a leader that loses its Lease steps down", testLeaseLost},
		{"changes through a leader's death", testChanges},
		{"every replica serves the same objects after", testSameObjects},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.test) {
			return
		}
	}
}
