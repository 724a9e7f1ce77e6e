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
	"fmt"
	"os"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// kubectlAs runs kubectl with kubeconfig and returns its output and error.
func kubectlAs(kubeconfig string, args ...string) (string, error) {
	out, stderr, err := env.Kubectl(context.Background(), kubeconfig, args...)
	if err != nil {
		return out + stderr, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr))
	}
	return out, nil
}

// bindClusterRole creates a ClusterRole with rules on the hub and binds it
// to user, removing both when the test ends.
func bindClusterRole(t *testing.T, name, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	bindRole(t, env.HubKube(t), name, user, rules...)
}

// bindRole creates a ClusterRole with rules on the cluster of kube and
// binds it to user, removing both when the test ends.
func bindRole(t *testing.T, kube kubernetes.Interface, name, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background() // t's context is done by now
		_ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
	waitGranted(t, kube, "", user, rules...)
}

// waitGranted waits until the RBAC of kube's cluster grants user the
// first verb of every rule (in namespace ns, when set), so that a test
// does not race the binding it just made.
func waitGranted(t *testing.T, kube kubernetes.Interface, ns, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	if err := harness.WaitGranted(t.Context(), kube, ns, user, rules...); err != nil {
		t.Fatal(err)
	}
}

// writeDynamic writes contexts into the dynamic kubeconfig source: each
// name maps to the server it points at, reusing member-1's credentials.
func writeDynamic(t *testing.T, servers map[string]string) {
	t.Helper()
	members, err := clientcmd.LoadFromFile(env.MembersKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	entries := make(map[string]sourceEntry, len(servers))
	for name, server := range servers {
		c := members.Clusters["member-1"].DeepCopy()
		c.Server = server
		entries[name] = sourceEntry{cluster: c, user: members.AuthInfos["member-1"].DeepCopy()}
	}
	writeSource(t, dynamicSource, entries)
}

// sourceEntry is one context of a kubeconfig source: a cluster and the
// credentials clusters-apiserver uses for it.
type sourceEntry struct {
	cluster *clientcmdapi.Cluster
	user    *clientcmdapi.AuthInfo
}

// writeSource replaces the kubeconfig source at path with one context,
// cluster and user per entry, each named after its key.
func writeSource(t *testing.T, path string, entries map[string]sourceEntry) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, e := range entries {
		cfg.Clusters[name] = e.cluster
		cfg.AuthInfos[name] = e.user
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Replace by rename, as editors and config management tools do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// clearDynamic empties the dynamic source when the test ends.
func clearDynamic(t *testing.T) {
	t.Cleanup(func() { writeDynamic(t, nil) })
}
