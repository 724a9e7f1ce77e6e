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
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/fleetget"
	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
)

// pluginBinary builds kubectl-clusters once for the package.
func pluginBinary(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() { pluginPath, pluginErr = harness.BuildPlugin(context.Background(), env.WorkDir) })
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginPath
}

// runPlugin runs kubectl-clusters with kubeconfig and returns its output
// and exit code.
func runPlugin(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), pluginBinary(t), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl-clusters %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// rows returns the rows of a table kubectl-clusters printed, as fields,
// after checking its header.
func rows(t *testing.T, out string, header ...string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[0]); len(got) < len(header) || strings.Join(got[:len(header)], " ") != strings.Join(header, " ") {
		t.Fatalf("header %q; want it to start with %q\n%s", lines[0], header, out)
	}
	var all [][]string
	for _, l := range lines[1:] {
		all = append(all, strings.Fields(l))
	}
	return all
}

// TestPluginGet: kubectl clusters get configmaps -A as two hub users. ada
// may reach member-1, member-2 and a stopped cluster through the hub, and
// only member-1 lets her list configmaps; bob may reach member-2 only,
// which lets him. Each sees the rows their members allow, the clusters
// that refuse or do not answer are named in a footer without hiding the
// others, and -o json is one List whose objects name their clusters.
func TestPluginGet(t *testing.T) {
	const ns, cm = "e2e-fleet", "e2e-fleet-cm"
	const dead = "e2e-fleet-stopped"
	// A cluster whose API server is gone: nothing listens on port 1.
	writeDynamic(t, map[string]string{dead: "https://127.0.0.1:1"})
	clearDynamic(t)
	for i := range env.Members {
		member := env.MemberKube(t, i)
		createNamespace(t, member, ns)
		_, err := member.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cm}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	const adaName, bobName = "e2e-fleet-ada", "e2e-fleet-bob"
	ada, bob := mustUser(t, adaName), mustUser(t, bobName)
	proxyGet := func(names ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"clusters.headlamp.dev"}, Resources: []string{"clusters/proxy"}, Verbs: []string{"get"}, ResourceNames: names}
	}
	listCM := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}
	bindClusterRole(t, adaName, adaName, readClusters, proxyGet("member-1", "member-2", dead))
	bindClusterRole(t, bobName, bobName, readClusters, proxyGet("member-2"))
	bindRole(t, env.MemberKube(t, 0), adaName, adaName, listCM)
	bindRole(t, env.MemberKube(t, 1), bobName, bobName, listCM)

	type got struct {
		stdout, stderr string
		code           int
	}
	var ad, bo got
	harness.Eventually(t, 60*time.Second, "both users' reads settle", func() (bool, string) {
		ad.stdout, ad.stderr, ad.code = runPlugin(t, ada, "get", "configmaps", "-A")
		bo.stdout, bo.stderr, bo.code = runPlugin(t, bob, "get", "configmaps", "-A")
		return strings.Contains(ad.stdout, cm) && strings.Contains(ad.stderr, dead) && strings.Contains(bo.stdout, cm),
			"ada:\n" + ad.stdout + ad.stderr + "bob:\n" + bo.stdout + bo.stderr
	})

	seen := func(out string) map[string]bool {
		clusters := map[string]bool{}
		for _, r := range rows(t, out, "CLUSTER", "NAMESPACE", "NAME", "DATA", "AGE") {
			clusters[r[0]] = true
			if r[0] == "member-1" && r[1] == ns && r[2] != cm && r[2] != "kube-root-ca.crt" {
				t.Errorf("unexpected row %q", r)
			}
		}
		return clusters
	}
	if c := seen(ad.stdout); !c["member-1"] || len(c) != 1 {
		t.Errorf("ada sees rows of %v; want member-1's only", c)
	}
	for _, want := range []string{
		"Error from cluster member-2: configmaps is forbidden: User \"" + adaName + "\" cannot list resource \"configmaps\"",
		"Error from cluster " + dead + ": ",
		"error: 2 of 3 clusters answered with an error",
	} {
		if !strings.Contains(ad.stderr, want) {
			t.Errorf("ada's errors lack %q:\n%s", want, ad.stderr)
		}
	}
	if ad.code != 1 {
		t.Errorf("ada's read exited %d; want 1, as kubectl get when part of it fails", ad.code)
	}
	if c := seen(bo.stdout); !c["member-2"] || len(c) != 1 || bo.stderr != "" || bo.code != 0 {
		t.Errorf("bob sees rows of %v, errors %q, exit %d; want member-2's only, no error, 0", c, bo.stderr, bo.code)
	}

	// -o json: one List, each object annotated with its cluster.
	out, _, _ := runPlugin(t, ada, "get", "cm", "-A", "-o", "json")
	var list struct {
		Kind  string `json:"kind"`
		Items []metav1.PartialObjectMetadata
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	found := false
	for _, item := range list.Items {
		if c := item.Annotations[fleetget.ClusterAnnotation]; c != "member-1" {
			t.Errorf("%s/%s is annotated with cluster %q; want member-1", item.Namespace, item.Name, c)
		}
		found = found || item.Name == cm && item.Kind == "ConfigMap"
	}
	if list.Kind != "List" || !found {
		t.Errorf("-o json: a %s without ConfigMap %s:\n%s", list.Kind, cm, out)
	}

	// One namespace: no NAMESPACE column; only the Clusters chosen by label
	// (none here: the members have no such label).
	out, _, code := runPlugin(t, bob, "get", "configmaps", "-n", ns)
	if r := rows(t, out, "CLUSTER", "NAME", "DATA", "AGE"); code != 0 || len(r) == 0 || r[0][0] != "member-2" {
		t.Errorf("bob, -n %s: exit %d\n%s", ns, code, out)
	}
	if out, stderr, code := runPlugin(t, bob, "get", "configmaps", "--clusters", "e2e-fleet=none"); code != 0 || out != "" || !strings.Contains(stderr, "No clusters") {
		t.Errorf("bob, --clusters matching none: exit %d, %q, %q", code, out, stderr)
	}
	// kubectl finds the plugin on PATH: kubectl clusters get.
	cmd := exec.CommandContext(t.Context(), filepath.Join(env.BinDir, "kubectl"), "clusters", "get", "configmaps", "-n", ns, "--no-headers")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+bob, "PATH="+filepath.Dir(pluginBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "member-2 ") {
		t.Errorf("kubectl clusters get, as a kubectl plugin: %v %q", err, out)
	}
	if _, stderr, code := runPlugin(t, bob, "get", "no-such-things"); code != 1 || !strings.Contains(stderr, `Error from cluster member-2: the server doesn't have a resource type "no-such-things"`) {
		t.Errorf("bob, an unknown resource: exit %d, %q", code, stderr)
	}
}
