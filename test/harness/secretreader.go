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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

// setUpClusterProfiles does what ClusterProfileOptions describes.
func (e *Env) setUpClusterProfiles(ctx context.Context) error {
	o := e.opts.ClusterProfiles
	plugin := o.PluginBinary
	if plugin == "" {
		plugin = filepath.Join(e.BinDir, "secretreader-plugin")
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("the secretreader credential plugin: %w; run hack/build-binaries.sh", err)
	}
	e.opts.Log("setting up the secretreader credential plugin for ClusterProfiles")
	cfg, err := e.HubRESTConfig()
	if err != nil {
		return err
	}
	hub := kubernetes.NewForConfigOrDie(cfg)
	if err := EnsureNamespace(ctx, hub, ProfileNamespace); err != nil {
		return err
	}
	if err := grantSecretReader(ctx, hub); err != nil {
		return err
	}
	cert, err := e.hub.ca.clientCert(e.pkiDir, secretReaderUser, secretReaderUser)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(e.WorkDir, "secretreader.kubeconfig")
	if err := writeKubeconfig(kubeconfig, kubeconfigEntry{name: "hub", server: e.hub.url, caPEM: e.hub.ca.CertPEM, client: cert, namespace: ProfileNamespace}); err != nil {
		return err
	}
	e.memberTokens = make([]string, len(e.members))
	for i, m := range e.members {
		token, err := e.memberToken(ctx, i)
		if err != nil {
			return err
		}
		e.memberTokens[i] = token
		if err := storeToken(ctx, hub, m.name, token); err != nil {
			return err
		}
	}

	secretReader := access.Provider{Name: SecretReaderProvider, ExecConfig: &clientcmdapi.ExecConfig{
		APIVersion:         "client.authentication.k8s.io/v1",
		Command:            plugin,
		ProvideClusterInfo: true,
		InteractiveMode:    clientcmdapi.NeverExecInteractiveMode,
		Env: []clientcmdapi.ExecEnvVar{
			{Name: "KUBECONFIG", Value: kubeconfig},
			// The plugin prefers the in-cluster configuration: never
			// that of a pod these tests might run in.
			{Name: "KUBERNETES_SERVICE_HOST", Value: ""},
		},
	}}
	data, err := json.MarshalIndent(access.Config{Providers: append([]access.Provider{secretReader}, o.Providers...)}, "", "  ")
	if err != nil {
		return err
	}
	e.ProviderFile = filepath.Join(e.WorkDir, "clusterprofile-providers.json")
	if err := os.WriteFile(e.ProviderFile, data, 0o600); err != nil {
		return err
	}
	e.profileArgs = []string{"--clusterprofile-source", "--clusterprofile-provider-file=" + e.ProviderFile, "--clusterprofile-namespaces=" + ProfileNamespace}

	for _, name := range o.Publish {
		i := e.memberIndex(name)
		if i < 0 {
			return fmt.Errorf("ClusterProfileOptions.Publish: no member %q", name)
		}
		if _, err := e.ApplyClusterProfile(ctx, e.MemberProfile(i, ProfileNamespace, name)); err != nil {
			return err
		}
		e.opts.Log("published %s as ClusterProfile %s/%s", name, ProfileNamespace, name)
	}
	return nil
}

// storeToken stores token on the hub as the Secret that secretreader
// reads for cluster name, unless there is one.
func storeToken(ctx context.Context, hub kubernetes.Interface, name, token string) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ProfileNamespace, Name: name}, Data: map[string][]byte{"token": []byte(token)}}
	if _, err := hub.CoreV1().Secrets(ProfileNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("storing the token of %s on the hub: %w", name, err)
	}
	return nil
}

// storeProfileToken stores, as a cluster manager publishing cp would, the
// token of the member cp leads to under cp's name, which is the cluster
// name the server asks secretreader for.
func (e *Env) storeProfileToken(ctx context.Context, hub kubernetes.Interface, cp *cpv1alpha1.ClusterProfile) error {
	providers := append(slices.Clone(cp.Status.AccessProviders), cp.Status.CredentialProviders...)
	for k := range providers {
		ap := &providers[k]
		for i, m := range e.members {
			if ap.Cluster.Server == m.url && i < len(e.memberTokens) {
				return storeToken(ctx, hub, cp.Name, e.memberTokens[i])
			}
		}
	}
	return nil
}

func (e *Env) memberIndex(name string) int {
	for i, m := range e.members {
		if m.name == name {
			return i
		}
	}
	return -1
}

// grantSecretReader lets the plugin's user get Secrets in ProfileNamespace.
func grantSecretReader(ctx context.Context, hub kubernetes.Interface) error {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ProfileNamespace, Name: secretReaderUser},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ProfileNamespace, Name: secretReaderUser},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: secretReaderUser},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: secretReaderUser}}}
	if _, err := hub.RbacV1().Roles(ProfileNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Role %s/%s on the hub: %w", ProfileNamespace, role.Name, err)
	}
	if _, err := hub.RbacV1().RoleBindings(ProfileNamespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating RoleBinding %s/%s on the hub: %w", ProfileNamespace, binding.Name, err)
	}
	return WaitGranted(ctx, hub, ProfileNamespace, secretReaderUser, role.Rules...)
}

// memberToken returns a token of a cluster-admin ServiceAccount on
// Members[i]: a real credential that may also impersonate.
func (e *Env) memberToken(ctx context.Context, i int) (string, error) {
	m := e.Members[i]
	cfg, err := restConfig(m.Kubeconfig)
	if err != nil {
		return "", err
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: memberAccount}}
	if _, err := kube.CoreV1().ServiceAccounts(sa.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating ServiceAccount %s/%s on %s: %w", sa.Namespace, sa.Name, m.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: memberAccount},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: sa.Namespace, Name: sa.Name}}}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("binding cluster-admin on %s: %w", m.Name, err)
	}
	if err := WaitGranted(ctx, kube, "", "system:serviceaccount:"+sa.Namespace+":"+sa.Name, rbacv1.PolicyRule{Verbs: []string{"impersonate"}, Resources: []string{"users"}}); err != nil {
		return "", fmt.Errorf("%s: %w", m.Name, err)
	}
	ttl := int64(serverTokenTTL / time.Second)
	tr, err := kube.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token of %s/%s on %s: %w", sa.Namespace, sa.Name, m.Name, err)
	}
	return tr.Status.Token, nil
}
