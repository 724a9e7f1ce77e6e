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
	"time"

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
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin := filepath.Join(root, "_output", "bin")
	if skip, err := harness.RequireBinaries(bin, "kube-apiserver", "kubectl", "etcd"); skip || err != nil {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	work, err := os.MkdirTemp("", "clusters-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	server, err := harness.BuildServer(ctx, work)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dynamicSource = filepath.Join(work, "dynamic.kubeconfig")
	sourceIdentitySource = filepath.Join(work, "source-identity.kubeconfig")
	for _, path := range []string{dynamicSource, sourceIdentitySource} {
		if err := os.WriteFile(path, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	env, err = harness.Start(ctx, harness.Options{
		WorkDir:      filepath.Join(work, "env"),
		BinDir:       bin,
		ServerBinary: server,
		ServerArgs: []string{
			"--kubeconfig-source=" + dynamicSource,
			"--kubeconfig-source=" + sourceIdentitySource,
			"--kubeconfig-source-identity=" + sourceIdentitySource + "=source",
			"--kubeconfig-source-poll-interval=200ms",
			// Small enough that health changes and dead members show up
			// within seconds.
			"--health-probe-interval=1s",
			"--health-probe-max-interval=2s",
			"--proxy-dial-timeout=2s",
			"--credential-plugin-timeout=2s", // pluginTimeout
		},
		Members: 2,
		Log:     func(format string, args ...any) { fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the hub:", err)
		return 1
	}
	if node, err = env.StartNode(ctx, 0); err != nil {
		fmt.Fprintln(os.Stderr, "starting member-1's node:", err)
		env.Stop()
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "process logs:\n%s\n", env.LogTails(40))
	}
	env.Stop()
	return code
}
