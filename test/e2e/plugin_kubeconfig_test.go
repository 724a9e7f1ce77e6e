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
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetconfig"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// TestPluginKubeconfig: kubectl clusters kubeconfig, run by the hub's
// admin, gives a context per Cluster whose user is the hub user entry
// itself, and the real kubectl reaches each member through it; merged into
// a kubeconfig twice, the file is the same.
func TestPluginKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plugin := pluginBinary(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), plugin, append([]string{"--kubeconfig", env.HubKubeconfig}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("kubectl-clusters %s: %v: %s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}
	generated := filepath.Join(dir, "fleet.kubeconfig")
	if err := os.WriteFile(generated, []byte(run("kubeconfig", "--context-prefix", "fleet-")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := clientcmd.LoadFromFile(env.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	hubUser := fleetconfig.UserPrefix + hub.CurrentContext
	for _, m := range env.Members {
		ctx, ok := cfg.Contexts["fleet-"+m.Name]
		if !ok {
			t.Fatalf("no context fleet-%s in\n%v", m.Name, cfg.Contexts)
		}
		if ctx.AuthInfo != hubUser {
			t.Errorf("context fleet-%s uses user %q; want the hub's, as %q", m.Name, ctx.AuthInfo, hubUser)
		}
		if want := env.HubURL + harness.ProxyPath(m.Name, ""); cfg.Clusters["fleet-"+m.Name].Server != want {
			t.Errorf("fleet-%s's server %s; want %s", m.Name, cfg.Clusters["fleet-"+m.Name].Server, want)
		}
		out, stderr, err := env.Kubectl(t.Context(), generated, "--context", "fleet-"+m.Name, "get", "namespace", "kube-system", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "namespace/kube-system" {
			t.Errorf("kubectl --context fleet-%s get namespace kube-system: %v %s %s", m.Name, err, out, stderr)
		}
	}

	// --merge-into, twice: the same file.
	into := filepath.Join(dir, "config")
	data, err := os.ReadFile(env.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(into, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run("kubeconfig", "--merge-into", into)
	first, _ := os.ReadFile(into)
	run("kubeconfig", "--merge-into", into)
	second, _ := os.ReadFile(into)
	if !bytes.Equal(first, second) {
		t.Errorf("merging again changed the file")
	}
	merged, err := clientcmd.LoadFromFile(into)
	if err != nil {
		t.Fatal(err)
	}
	if merged.CurrentContext != hub.CurrentContext || merged.Contexts[env.Members[0].Name] == nil {
		t.Errorf("after merging: current context %q, contexts %v", merged.CurrentContext, merged.Contexts)
	}

	// --prune with a selector that chooses no Cluster (a typo, say) is
	// refused, and the file is left as it was.
	cmd := exec.CommandContext(t.Context(), plugin, "--kubeconfig", env.HubKubeconfig, "kubeconfig", "--merge-into", into, "--prune", "-l", "clusters.headlamp.dev/source=none")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no Cluster is chosen") {
		t.Errorf("--prune choosing no Cluster: %v %s; want it refused", err, out)
	}
	if after, _ := os.ReadFile(into); !bytes.Equal(after, second) {
		t.Errorf("a refused --prune changed the file")
	}
}

// TestPluginList: kubectl clusters list as two hub users who may both list
// the clusters, one of whom may reach member-1's proxy (get and create)
// and the other only member-2's, for requests (get): REACHABLE follows the
// hub's RBAC for each.
func TestPluginList(t *testing.T) {
	t.Parallel()
	plugin := pluginBinary(t)
	proxy := func(verbs []string, names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters/proxy"}, Verbs: verbs, ResourceNames: names}
	}
	ada, bob := mustUser(t, "e2e-plugin-ada"), mustUser(t, "e2e-plugin-bob")
	bindClusterRole(t, "e2e-plugin-ada", "e2e-plugin-ada", readClusters, proxy([]string{"get", "create"}, "member-1"))
	bindClusterRole(t, "e2e-plugin-bob", "e2e-plugin-bob", readClusters, proxy([]string{"get"}, "member-2"))
	reachable := func(kubeconfig string) map[string]string {
		var out map[string]string
		harness.Eventually(t, 30*time.Second, "kubectl clusters list", func() (bool, string) {
			cmd := exec.CommandContext(t.Context(), plugin, "--kubeconfig", kubeconfig, "list")
			data, err := cmd.CombinedOutput()
			if err != nil {
				return false, err.Error() + ": " + string(data)
			}
			out = map[string]string{}
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) < 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "REACHABLE") {
				return false, string(data)
			}
			for _, line := range lines[1:] {
				f := strings.Fields(line)
				out[f[0]] = f[2]
			}
			return out["member-1"] != "" && out["member-2"] != "", string(data)
		})
		return out
	}
	for _, tc := range []struct {
		who        string
		kubeconfig string
		want       map[string]string
	}{
		{"ada", ada, map[string]string{"member-1": "yes", "member-2": "no"}},
		{"bob", bob, map[string]string{"member-1": "no", "member-2": "get"}},
	} {
		got := reachable(tc.kubeconfig)
		for name, want := range tc.want {
			if got[name] != want {
				t.Errorf("%s: REACHABLE %s = %q; want %q (all: %v)", tc.who, name, got[name], want, got)
			}
		}
		// kubeconfig --reachable: only the clusters the hub lets them reach.
		out, err := exec.CommandContext(t.Context(), plugin, "--kubeconfig", tc.kubeconfig, "kubeconfig", "--reachable").Output()
		if err != nil {
			t.Fatalf("%s: kubectl clusters kubeconfig --reachable: %v", tc.who, err)
		}
		cfg, err := clientcmd.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range tc.want {
			if _, has := cfg.Contexts[name]; has != (want != "no") {
				t.Errorf("%s: kubeconfig --reachable has a context %s: %v; REACHABLE is %s", tc.who, name, has, want)
			}
		}
		// A context of every Cluster: the hub refuses the ones the person
		// may not reach, whatever the kubeconfig says.
		all, err := exec.CommandContext(t.Context(), plugin, "--kubeconfig", tc.kubeconfig, "kubeconfig").Output()
		if err != nil {
			t.Fatalf("%s: kubectl clusters kubeconfig: %v", tc.who, err)
		}
		path := filepath.Join(t.TempDir(), "all.kubeconfig")
		if err := os.WriteFile(path, all, 0o600); err != nil {
			t.Fatal(err)
		}
		for name, want := range tc.want {
			if want != "no" {
				continue
			}
			// (get --raw: kubectl's discovery prints a refused discovery
			// as "Forbidden: unknown", without the hub's message.)
			_, stderr, err := env.Kubectl(t.Context(), path, "--context", name, "get", "--raw", "/api/v1/namespaces")
			if wantMsg := `cannot get resource "clusters/proxy"`; err == nil || !strings.Contains(stderr, wantMsg) {
				t.Errorf("%s: kubectl --context %s through the hub: %v %s; want the hub's refusal (%s)", tc.who, name, err, stderr, wantMsg)
			}
		}
	}

	// use: ada's kubeconfig switches to member-1 through the hub; kubectl
	// reaches it as ada (whose member RBAC is the member's business: a
	// 403 from the member proves the request got there as her), and the
	// plugin still finds the hub behind the new current context.
	own := filepath.Join(t.TempDir(), "ada.kubeconfig")
	data, err := os.ReadFile(ada)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), plugin, "--kubeconfig", own, "use", "member-1").CombinedOutput(); err != nil {
		t.Fatalf("kubectl clusters use member-1: %v: %s", err, out)
	}
	_, stderr, err := env.Kubectl(t.Context(), own, "get", "namespace", "kube-system")
	if err == nil || !strings.Contains(stderr, `User "e2e-plugin-ada" cannot get resource "namespaces"`) {
		t.Errorf("kubectl get namespace as ada on member-1 through the hub: %v %s; want the member's 403 for ada", err, stderr)
	}
	if got := reachable(own); got["member-1"] != "yes" {
		t.Errorf("kubectl clusters list from the member-1 context: %v", got)
	}

	// With KUBECONFIG=first:ada, use writes the copied user (and its
	// context) into ada's file, which holds her credential, not into the
	// first file, as new entries otherwise go.
	first, second := filepath.Join(t.TempDir(), "first.kubeconfig"), filepath.Join(t.TempDir(), "ada.kubeconfig")
	if err := os.WriteFile(first, []byte("apiVersion: v1\nkind: Config\n"), 0o644); err != nil { // #nosec G306 -- as a person's may be
		t.Fatal(err)
	}
	if err := os.WriteFile(second, data, 0o600); err != nil {
		t.Fatal(err)
	}
	useCmd := exec.CommandContext(t.Context(), plugin, "use", "member-1")
	useCmd.Env = append(os.Environ(), "KUBECONFIG="+first+string(os.PathListSeparator)+second)
	if out, err := useCmd.CombinedOutput(); err != nil {
		t.Fatalf("KUBECONFIG=first:ada kubectl clusters use member-1: %v: %s", err, out)
	}
	if f, err := clientcmd.LoadFromFile(first); err != nil || len(f.AuthInfos) > 0 || len(f.Contexts) > 0 {
		t.Errorf("the first kubeconfig file got users %v, contexts %v (%v); want none", f.AuthInfos, f.Contexts, err)
	}
	if s, err := clientcmd.LoadFromFile(second); err != nil || s.AuthInfos[fleetconfig.UserPrefix+"hub"] == nil || s.Contexts["member-1"] == nil {
		t.Errorf("ada's file lacks the copied user or member-1's context (%v)", err)
	}

	// --merge-into every Cluster, then --reachable --prune: ada's file
	// keeps member-1 (current) and loses the contexts she may not use.
	if out, err := exec.CommandContext(t.Context(), plugin, "--kubeconfig", own, "kubeconfig", "--merge-into", own).CombinedOutput(); err != nil {
		t.Fatalf("kubectl clusters kubeconfig --merge-into: %v: %s", err, out)
	}
	out, err := exec.CommandContext(t.Context(), plugin, "--kubeconfig", own, "kubeconfig", "--merge-into", own, "--reachable", "--prune").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "member-2") {
		t.Fatalf("kubectl clusters kubeconfig --reachable --prune: %v: %s", err, out)
	}
	pruned, err := clientcmd.LoadFromFile(own)
	if err != nil {
		t.Fatal(err)
	}
	if pruned.Contexts["member-1"] == nil || pruned.Contexts["member-2"] != nil || pruned.Contexts["hub"] == nil || pruned.CurrentContext != "member-1" {
		t.Errorf("after --reachable --prune: current %q, contexts %v; want hub and member-1", pruned.CurrentContext, pruned.Contexts)
	}
}
