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

package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// binDir returns _output/bin, or skips t when hack/build-binaries.sh has
// not filled it.
func binDir(t *testing.T) string {
	t.Helper()
	dir, err := defaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	skip, err := RequireBinaries(dir, "kube-apiserver", "kubectl", "etcd")
	if err != nil {
		t.Fatal(err)
	}
	if skip {
		t.Skipf("%s=1 and components are missing", SkipMissingEnv)
	}
	return dir
}

// TestHarness starts a hub and two members without clusters-apiserver and
// checks that each answers with the credentials the harness wrote for it.
func TestHarness(t *testing.T) {
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := StartForTest(ctx, t, Options{BinDir: bin, Members: 2, HubManifests: []string{"testdata/hub-manifests.yaml"}})

	if len(env.Members) != 2 {
		t.Fatalf("got %d members, want 2", len(env.Members))
	}
	alice, err := env.UserKubeconfig("alice", "team-a")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		want       string
		wantErr    bool
	}{
		{name: "hub is ready", kubeconfig: env.HubKubeconfig, args: []string{"get", "--raw", "/readyz"}, want: "ok"},
		{name: "member-1 is ready", kubeconfig: env.Members[0].Kubeconfig, args: []string{"get", "--raw", "/readyz"}, want: "ok"},
		{name: "members kubeconfig reaches member-1", kubeconfig: env.MembersKubeconfig,
			args: []string{"--context=member-1", "get", "namespace", "default", "-o", "name"}, want: "namespace/default"},
		{name: "members kubeconfig reaches member-2", kubeconfig: env.MembersKubeconfig,
			args: []string{"--context=member-2", "get", "namespace", "default", "-o", "name"}, want: "namespace/default"},
		{name: "members kubeconfig names member-2's server", kubeconfig: env.MembersKubeconfig,
			args: []string{"--context=member-2", "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"}, want: env.Members[1].URL},
		{name: "hub manifests are applied", kubeconfig: env.HubKubeconfig,
			args: []string{"get", "crd/widgets.harness.test", "configmap/harness-manifest", "-o", "name"},
			want: "customresourcedefinition.apiextensions.k8s.io/widgets.harness.test\nconfigmap/harness-manifest"},
		{name: "APIService is registered", kubeconfig: env.HubKubeconfig,
			args: []string{"get", "apiservice", APIServiceName, "-o", "jsonpath={.spec.service.namespace}/{.spec.service.name}"}, want: ServerNamespace + "/" + ServerName},
		{name: "Service points at localhost", kubeconfig: env.HubKubeconfig,
			args: []string{"get", "service", "-n", ServerNamespace, ServerName, "-o", "jsonpath={.spec.type}/{.spec.externalName}"}, want: "ExternalName/localhost"},
		{name: "Deployment is left out", kubeconfig: env.HubKubeconfig,
			args: []string{"get", "deployments", "-n", ServerNamespace, "-o", "name"}, want: ""},
		{name: "server runs as its ServiceAccount", kubeconfig: env.ServerKubeconfig,
			args: []string{"auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"}, want: "system:serviceaccount:clusters-system:clusters-apiserver"},
		{name: "server may review tokens", kubeconfig: env.ServerKubeconfig,
			args: []string{"auth", "can-i", "create", "tokenreviews.authentication.k8s.io"}, want: "yes"},
		{name: "server may not read secrets", kubeconfig: env.ServerKubeconfig,
			args: []string{"auth", "can-i", "get", "secrets", "-A"}, want: "no", wantErr: true},
		{name: "user has the minted identity", kubeconfig: alice,
			args: []string{"auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"}, want: `alice ["team-a","system:authenticated"]`},
		{name: "user has no permissions", kubeconfig: alice,
			args: []string{"auth", "can-i", "list", "namespaces"}, want: "no", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := env.Kubectl(ctx, tc.kubeconfig, tc.args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("kubectl %s: err = %v, want error %v; stderr: %s", strings.Join(tc.args, " "), err, tc.wantErr, stderr)
			}
			if diff := cmp.Diff(tc.want, strings.TrimSpace(stdout)); diff != "" {
				t.Errorf("kubectl %s output (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}

	t.Run("member restart keeps its objects", func(t *testing.T) {
		m := env.Members[1].Kubeconfig
		if _, stderr, err := env.Kubectl(ctx, m, "create", "configmap", "harness-restart"); err != nil {
			t.Fatalf("creating a ConfigMap on member-2: %v: %s", err, stderr)
		}
		env.StopMember(1)
		if _, _, err := env.Kubectl(ctx, m, "get", "--raw", "/readyz", "--request-timeout=2s"); err == nil {
			t.Error("member-2 answered after StopMember")
		}
		if err := env.StartMember(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := env.StartMember(ctx, 1); err == nil {
			t.Error("StartMember of a running member succeeded")
		}
		stdout, stderr, err := env.Kubectl(ctx, m, "get", "configmap", "harness-restart", "-o", "name")
		if err != nil || strings.TrimSpace(stdout) != "configmap/harness-restart" {
			t.Errorf("after StartMember: %q, %v: %s", stdout, err, stderr)
		}
	})
}

// TestServerRestart starts clusters-apiserver, built from this repository,
// restarts it while the hub runs, and checks that the hub serves its API
// before and after.
func TestServerRestart(t *testing.T) {
	bin := binDir(t)
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "clusters-apiserver")); err != nil {
		t.Fatalf("no cmd/clusters-apiserver in %s: %v", root, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	server, err := BuildServer(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := StartForTest(ctx, t, Options{BinDir: bin, ServerBinary: server, Members: 1})

	discovery := func(stage string) {
		t.Helper()
		stdout, stderr, err := env.Kubectl(ctx, env.HubKubeconfig, "get", "--raw", "/apis/clusters.headlamp.dev/v1alpha1")
		if err != nil {
			t.Fatalf("%s: discovery through the hub: %v: %s", stage, err, stderr)
		}
		if !strings.Contains(stdout, `"groupVersion":"clusters.headlamp.dev/v1alpha1"`) {
			t.Errorf("%s: discovery through the hub returned %s", stage, stdout)
		}
	}
	discovery("before restart")
	if err := env.RestartServer(ctx); err != nil {
		t.Fatal(err)
	}
	discovery("after restart")
}

func TestRequireBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), nil, 0o700); err != nil {
		t.Fatal(err)
	}
	if skip, err := RequireBinaries(dir, "etcd"); skip || err != nil {
		t.Errorf("all present: skip=%v err=%v", skip, err)
	}
	t.Setenv(SkipMissingEnv, "")
	if skip, err := RequireBinaries(dir, "etcd", "kube-apiserver"); skip || err == nil || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("one missing: skip=%v err=%v; want an error naming it", skip, err)
	}
	t.Setenv(SkipMissingEnv, "1")
	if skip, err := RequireBinaries(dir, "kube-apiserver"); !skip || err != nil {
		t.Errorf("missing with %s=1: skip=%v err=%v; want a skip", SkipMissingEnv, skip, err)
	}
}
