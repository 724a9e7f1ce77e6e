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

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

// createNamespace creates a namespace, if it is not there yet. Members run
// no namespace controller, so a deleted namespace would stay Terminating:
// tests leave their namespaces and clean up what is in them.
func createNamespace(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// forbiddenBy says who refused a request, as GROUP/RESOURCE from the
// details of its Status: the hub refuses "clusters.headlamp.dev/clusters"
// (its message names the subresource, clusters/proxy), a member the
// resource asked for, such as "/configmaps".
func forbiddenBy(r response) string {
	st := r.status()
	if r.code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || st.Details == nil {
		return ""
	}
	return st.Details.Group + "/" + st.Details.Kind
}

// TestProxyMemberRBACDecides checks that the hub decides who may use a
// cluster's proxy and the member's own RBAC decides what the user may do
// there: the proxy impersonates the hub user.
func TestProxyMemberRBACDecides(t *testing.T) {
	const user = "e2e-proxy-reader"
	reader := mustUser(t, user, "e2e-proxy-team")
	nobody := mustUser(t, "e2e-proxy-nobody")
	bindClusterRole(t, user, user, proxyRule(allProxyVerbs, "member-1"))

	member := env.MemberKube(t, 0)
	createNamespace(t, member, "e2e-ident-allowed")
	createNamespace(t, member, "e2e-ident-other")
	// view itself is an aggregated ClusterRole, empty without the
	// controller manager that members here do not run: bind the rules it
	// aggregates.
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-proxy-reader-view", Namespace: "e2e-ident-allowed"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:aggregate-to-view"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}
	ctx := t.Context()
	if _, err := member.RbacV1().RoleBindings(binding.Namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	deleteBinding := func() {
		err := member.RbacV1().RoleBindings(binding.Namespace).Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	}
	t.Cleanup(deleteBinding)
	// member-1's RBAC takes the binding from an informer: wait until it
	// grants the list, asking member-1 itself.
	harness.Eventually(t, 20*time.Second, "member-1 grants the RoleBinding", func() (bool, string) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: binding.Namespace, Verb: "list", Resource: "configmaps"},
		}}
		got, err := member.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.Allowed, got.Status.Reason
	})

	allowed := "/api/v1/namespaces/e2e-ident-allowed/configmaps"
	other := "/api/v1/namespaces/e2e-ident-other/configmaps"
	tests := []struct {
		name       string
		kubeconfig string
		cluster    string
		path       string
		wantCode   int
		wantBy     string // who refuses: the hub's or the member's resource
		wantInMsg  string
	}{
		{"member grants view", reader, "member-1", allowed, http.StatusOK, "", ""},
		{"member refuses another namespace", reader, "member-1", other, http.StatusForbidden, "/configmaps", `User "e2e-proxy-reader" cannot list resource "configmaps"`},
		{"hub refuses a user without clusters/proxy", nobody, "member-1", allowed, http.StatusForbidden, "clusters.headlamp.dev/clusters", `clusters.clusters.headlamp.dev "member-1" is forbidden: User "e2e-proxy-nobody" cannot get resource "clusters/proxy"`},
		{"hub refuses a cluster outside resourceNames", reader, "member-2", allowed, http.StatusForbidden, "clusters.headlamp.dev/clusters", `clusters.clusters.headlamp.dev "member-2" is forbidden: User "e2e-proxy-reader" cannot get resource "clusters/proxy"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := send(t, hubTLS(t, tc.kubeconfig), http.MethodGet, env.HubURL+harness.ProxyPath(tc.cluster, tc.path), nil, "")
			if resp.code != tc.wantCode || forbiddenBy(resp) != tc.wantBy {
				t.Fatalf("got %d (refused by %q) %s; want %d refused by %q", resp.code, forbiddenBy(resp), resp.body, tc.wantCode, tc.wantBy)
			}
			if msg := resp.status().Message; !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q lacks %q", msg, tc.wantInMsg)
			}
		})
	}

	t.Run("member sees the hub user", func(t *testing.T) {
		out, err := kubectlAs(env.ProxyKubeconfigOf(t, reader, "member-1"), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
		if want := `e2e-proxy-reader ["e2e-proxy-team","system:authenticated"]`; err != nil || out != want {
			t.Errorf("kubectl auth whoami through the proxy = %q, %v; want %q", out, err, want)
		}
	})

	t.Run("member refuses once its RoleBinding is gone", func(t *testing.T) {
		deleteBinding()
		cfg := hubTLS(t, reader)
		harness.Eventually(t, 20*time.Second, "member-1 refuses the list", func() (bool, string) {
			resp := send(t, cfg, http.MethodGet, env.HubURL+harness.ProxyPath("member-1", allowed), nil, "")
			return forbiddenBy(resp) == "/configmaps", string(resp.body)
		})
	})
}
