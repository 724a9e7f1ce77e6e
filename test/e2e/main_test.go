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

// Package e2e tests clusters-apiserver behind a real hub kube-apiserver,
// with real member kube-apiservers and the real kubectl, all started by
// test/harness on 127.0.0.1.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// env is the hub, members and clusters-apiserver shared by every test.
var env *harness.Env

// node is member-1's node, with a pod whose exec, attach, port-forward
// and logs reach a kubelet streaming server of this process.
var node *harness.Node

// dynamicSource is a kubeconfig source that tests rewrite to make clusters
// appear, change and disappear. The members' own kubeconfig stays as it is.
var dynamicSource string

// sourceIdentitySource is a kubeconfig source whose clusters the proxy
// reaches with the source's credential alone, without impersonation.
var sourceIdentitySource string

func TestMain(m *testing.M) {
	os.Exit(harness.RunSuite(m, &env, harness.Suite{
		Name:    "main",
		Options: harness.Options{Members: 2},
		Prepare: func(_ context.Context, work string, opts *harness.Options) error {
			dynamicSource = filepath.Join(work, "dynamic.kubeconfig")
			sourceIdentitySource = filepath.Join(work, "source-identity.kubeconfig")
			for _, path := range []string{dynamicSource, sourceIdentitySource} {
				if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
					return err
				}
			}
			opts.ServerArgs = []string{
				"--kubeconfig-source=" + dynamicSource,
				"--kubeconfig-source=" + sourceIdentitySource,
				"--kubeconfig-source-identity=" + sourceIdentitySource + "=source",
				"--kubeconfig-source-poll-interval=200ms",
				// Small enough that health changes and dead members show
				// up within seconds.
				"--health-probe-interval=1s",
				"--health-probe-max-interval=2s",
				"--proxy-dial-timeout=2s",
				"--proxy-response-header-timeout=" + responseHeaderTimeout.String(),
				// Shorter than the response-header timeout, so that a
				// silent member always fails its checks the same way.
				"--health-probe-timeout=3s",
				"--credential-plugin-timeout=" + pluginTimeout.String(),
			}
			return nil
		},
		Started: func(ctx context.Context, env *harness.Env) (err error) {
			if node, err = env.StartNode(ctx, 0); err != nil {
				return fmt.Errorf("starting member-1's node: %w", err)
			}
			return nil
		},
	}))
}
