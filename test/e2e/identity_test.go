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
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/headlamp-k8s/clusters-apiserver/test/harness"
)

const (
	// identityNS holds the impersonating ServiceAccount on member-1 and
	// the walker ServiceAccount on the hub.
	identityNS = "e2e-identity"
	// impersonatorCluster reaches member-1 with a credential that may only
	// impersonate, with impersonation (the default).
	impersonatorCluster = "e2e-impersonator"
	// impersonatorSourceCluster reaches member-1 with the same credential
	// and its kubeconfig's own "as", without impersonating the hub user.
	impersonatorSourceCluster = "e2e-impersonator-source"
)

// impersonateOnly creates, on a member, a ServiceAccount that may only
// impersonate (users, groups, service accounts, uids and extras) and
// returns a token for it.
func impersonateOnly(t *testing.T, member kubernetes.Interface) string {
	t.Helper()
	ctx := t.Context()
	createNamespace(t, member, identityNS)
	if _, err := member.CoreV1().ServiceAccounts(identityNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "impersonator"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "e2e-impersonate-only"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users", "groups", "serviceaccounts"}, Verbs: []string{"impersonate"}},
		// RBAC has no "userextras/*": each extra key is named.
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"uids", "userextras/authentication.kubernetes.io/credential-id"}, Verbs: []string{"impersonate"}},
	}}
	if _, err := member.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-impersonate-only"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "impersonator", Namespace: identityNS}},
	}
	if _, err := member.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	waitGranted(t, member, "", "system:serviceaccount:"+identityNS+":impersonator", role.Rules...)
	tr, err := member.CoreV1().ServiceAccounts(identityNS).CreateToken(ctx, "impersonator", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// whoAmI posts a SelfSubjectReview with cfg (and bearer, when set) to
// base+path and returns the user the answering server saw.
func whoAmI(t *testing.T, r route, path, bearer string) (authenticationv1.UserInfo, response) {
	t.Helper()
	header := http.Header{"Content-Type": {"application/json"}}
	if bearer != "" {
		header.Set("Authorization", "Bearer "+bearer)
	}
	resp := send(t, r.tls, http.MethodPost, r.base+path, header, `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	var review authenticationv1.SelfSubjectReview
	_ = json.Unmarshal(resp.body, &review)
	return review.Status.UserInfo, resp
}

// withoutGroups is u without the named groups.
func withoutGroups(u authenticationv1.UserInfo, drop ...string) authenticationv1.UserInfo {
	u.Groups = slices.DeleteFunc(slices.Clone(u.Groups), func(g string) bool { return slices.Contains(drop, g) })
	return u
}

// TestProxyIdentityOnMember checks, on member-1 reached with a credential
// that may only impersonate, that the hub user arrives exactly: the
// member's own SelfSubjectReview through the proxy equals the hub's, user,
// UID, groups and extras whose keys hold "/" included, less system:masters
// (dropped by default); that the member's RBAC then authorizes that user;
// that the kubeconfig's own "as" is ignored when impersonating and used in
// source mode, per source and with --proxy-identity=source; and that
// --proxy-user-prefix, --proxy-group-prefix and --proxy-drop-groups change
// what arrives.
func TestProxyIdentityOnMember(t *testing.T) {
	member := env.MemberKube(t, 0)
	token := impersonateOnly(t, member)
	members := harness.RESTConfig(t, env.Members[0].Kubeconfig)
	entry := sourceEntry{
		cluster: &clientcmdapi.Cluster{Server: members.Host, CertificateAuthorityData: members.CAData},
		user:    &clientcmdapi.AuthInfo{Token: token, Impersonate: "kubeconfig-as-user"},
	}
	writeSource(t, dynamicSource, map[string]sourceEntry{impersonatorCluster: entry})
	writeSource(t, sourceIdentitySource, map[string]sourceEntry{impersonatorSourceCluster: entry})
	t.Cleanup(func() {
		writeSource(t, dynamicSource, nil)
		writeSource(t, sourceIdentitySource, nil)
	})
	waitClusters(t, map[string]string{impersonatorCluster: members.Host, impersonatorSourceCluster: members.Host})

	// A hub ServiceAccount (UID and extras with "/" in their keys) and a
	// certificate user in system:masters.
	walkerToken, walker := hubServiceAccount(t, identityNS, "walker", "clusters-apiserver:proxy")
	master := mustUser(t, "e2e-id-master", "system:masters", "e2e-id-team")
	// The member lets the walker read ConfigMaps in identityNS, no more.
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "walker-reads", Namespace: identityNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "e2e-walker-reads"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: walker}},
	}
	if _, err := member.RbacV1().ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "e2e-walker-reads"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := member.RbacV1().RoleBindings(identityNS).Create(t.Context(), rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	waitGranted(t, member, identityNS, walker, rbacv1.PolicyRule{Resources: []string{"configmaps"}, Verbs: []string{"list"}})

	admin := hubTLS(t, env.HubKubeconfig)
	walkerRoute := route{name: "hub", base: env.HubURL, tls: anonymousTLS(admin)}
	masterRoute := route{name: "hub", base: env.HubURL, tls: hubTLS(t, master)}
	const review = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
	hubWalker, _ := whoAmI(t, walkerRoute, review, walkerToken)
	hubMaster, _ := whoAmI(t, masterRoute, review, "")
	if hubWalker.UID == "" || len(hubWalker.Extra) == 0 {
		t.Fatalf("the hub's view of its ServiceAccount has no UID or extras: %+v", hubWalker)
	}

	t.Run("impersonated as the hub user", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			r      route
			bearer string
			want   authenticationv1.UserInfo
		}{
			{"ServiceAccount", walkerRoute, walkerToken, hubWalker},
			{"certificate user in system:masters", masterRoute, "", withoutGroups(hubMaster, "system:masters")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, resp := whoAmI(t, tc.r, harness.ProxyPath(impersonatorCluster, review), tc.bearer)
				if resp.code != http.StatusCreated {
					t.Fatalf("SelfSubjectReview through the proxy: %d %s", resp.code, resp.body)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("the member saw (-hub's view +member's):\n%s", diff)
				}
			})
		}
	})

	t.Run("the member's RBAC decides", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + walkerToken}}
		ok := send(t, walkerRoute.tls, http.MethodGet, env.HubURL+harness.ProxyPath(impersonatorCluster, "/api/v1/namespaces/"+identityNS+"/configmaps"), h, "")
		if ok.code != http.StatusOK {
			t.Errorf("the walker listing ConfigMaps it may read: %d %s", ok.code, ok.body)
		}
		no := send(t, walkerRoute.tls, http.MethodGet, env.HubURL+harness.ProxyPath(impersonatorCluster, "/api/v1/namespaces/"+identityNS+"/secrets"), h, "")
		if no.code != http.StatusForbidden || !strings.Contains(string(no.body), walker) {
			t.Errorf("the walker listing Secrets: %d %s; want the member's 403 naming %s", no.code, no.body, walker)
		}
	})

	t.Run("source mode uses the kubeconfig's as", func(t *testing.T) {
		got, resp := whoAmI(t, masterRoute, harness.ProxyPath(impersonatorSourceCluster, review), "")
		if resp.code != http.StatusCreated || got.Username != "kubeconfig-as-user" {
			t.Errorf("source mode: %d, user %q; want kubeconfig-as-user", resp.code, got.Username)
		}
	})

	t.Run("--proxy-identity=source", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if err := env.RestartServerWith(ctx, "--proxy-identity=source"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := env.RestartServerWith(context.Background()); err != nil {
				t.Errorf("restarting with the default flags: %v", err)
			}
		})
		waitClusters(t, map[string]string{impersonatorCluster: members.Host})
		harness.Eventually(t, 30*time.Second, "the source credential and its own 'as' reach the member", func() (bool, string) {
			got, resp := whoAmI(t, masterRoute, harness.ProxyPath(impersonatorCluster, review), "")
			return resp.code == http.StatusCreated && got.Username == "kubeconfig-as-user", got.Username + " " + string(resp.body)
		})
	})

	t.Run("prefixes and dropped groups", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if err := env.RestartServerWith(ctx, "--proxy-user-prefix=hub:", "--proxy-group-prefix=hub:", "--proxy-drop-groups=e2e-id-team"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := env.RestartServerWith(context.Background()); err != nil {
				t.Errorf("restarting with the default flags: %v", err)
			}
		})
		waitClusters(t, map[string]string{impersonatorCluster: members.Host})
		var got authenticationv1.UserInfo
		harness.Eventually(t, 30*time.Second, "a SelfSubjectReview through the restarted proxy", func() (bool, string) {
			var resp response
			got, resp = whoAmI(t, masterRoute, harness.ProxyPath(impersonatorCluster, review), "")
			return resp.code == http.StatusCreated, string(resp.body)
		})
		want := authenticationv1.UserInfo{Username: "hub:" + hubMaster.Username, UID: hubMaster.UID, Extra: hubMaster.Extra}
		for _, g := range hubMaster.Groups {
			switch g {
			case "e2e-id-team":
			case "system:authenticated":
				want.Groups = append(want.Groups, g) // the member's own
			default:
				want.Groups = append(want.Groups, "hub:"+g)
			}
		}
		slices.Sort(want.Groups)
		slices.Sort(got.Groups)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the member saw (-want +got):\n%s", diff)
		}
	})
}
