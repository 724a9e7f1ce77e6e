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
	"os/exec"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	cpclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

const (
	// ProfileNamespace holds the ClusterProfiles that Options.ClusterProfiles
	// publishes and the Secrets that the secretreader plugin reads.
	ProfileNamespace = "fleet"
	// SecretReaderProvider is the access provider name of the secretreader
	// plugin, first in the provider file.
	SecretReaderProvider = "secretreader"
	// ProfileClusterManager is the cluster manager of MemberProfile's
	// profiles, also their x-k8s.io/cluster-manager label.
	ProfileClusterManager = "harness"

	// secretReaderUser is the hub user the plugin reads Secrets as.
	secretReaderUser = "secretreader"
	// memberAccount is the ServiceAccount (in kube-system, cluster-admin)
	// of every member whose token the plugin hands to clusters-apiserver.
	memberAccount = "clusterprofile-access"
)

// ClusterProfileOptions sets up the ClusterProfile source the way a fleet
// would, with the Cluster Inventory API's own secretreader plugin:
//   - each member has a cluster-admin ServiceAccount whose token is the
//     hub Secret fleet/<member name>, key "token";
//   - the plugin runs as hub user "secretreader", who may only get Secrets
//     in fleet, and reads the Secret named by the access provider's
//     client.authentication.k8s.io/exec extension {"clusterName": ...};
//   - clusters-apiserver gets --clusterprofile-source and a provider file
//     (Env.ProviderFile) listing secretreader, then Providers; those flags
//     come before Options.ServerArgs, which may add more.
//
// The ClusterProfile CRD is not installed: put ClusterProfileCRD's path in
// Options.HubManifests, or apply it later with Env.Apply.
type ClusterProfileOptions struct {
	// PluginBinary is the secretreader plugin. Empty means
	// BinDir/secretreader-plugin, built by hack/build-binaries.sh.
	PluginBinary string
	// Providers follow secretreader in the provider file.
	Providers []access.Provider
	// Publish names members (e.g. "member-2") to publish, before
	// clusters-apiserver starts, as ClusterProfiles fleet/<member name>
	// reached through secretreader. It needs the CRD in HubManifests.
	Publish []string
}

// ClusterProfileCRD returns the path of the ClusterProfile
// CustomResourceDefinition in the Cluster Inventory API module that go.mod
// requires, in the module cache.
func ClusterProfileCRD(ctx context.Context) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-inventory-api")
	cmd.Dir = root
	out, err := cmd.Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("locating module sigs.k8s.io/cluster-inventory-api (run 'go mod download'): %v", err)
	}
	path := filepath.Join(dir, "config", "crd", "bases", "multicluster.x-k8s.io_clusterprofiles.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the ClusterProfile CRD: %w", err)
	}
	return path, nil
}

// MemberProfile returns a ClusterProfile namespace/name for Members[i]: an
// access provider secretreader with the member's URL, CA and
// {"clusterName": name}, and ControlPlaneHealthy=True. ApplyClusterProfile
// stores the member's token for secretreader under that name.
func (e *Env) MemberProfile(i int, namespace, name string) *cpv1alpha1.ClusterProfile {
	m := e.members[i]
	ext, _ := json.Marshal(map[string]string{"clusterName": name})
	return &cpv1alpha1.ClusterProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{cpv1alpha1.LabelClusterManagerKey: ProfileClusterManager}},
		Spec: cpv1alpha1.ClusterProfileSpec{DisplayName: m.name, ClusterManager: cpv1alpha1.ClusterManager{Name: ProfileClusterManager}},
		Status: cpv1alpha1.ClusterProfileStatus{
			Conditions: []metav1.Condition{{Type: cpv1alpha1.ClusterConditionControlPlaneHealthy, Status: metav1.ConditionTrue,
				Reason: "Running", Message: "started by the harness", LastTransitionTime: metav1.Now()}},
			AccessProviders: []cpv1alpha1.AccessProvider{{Name: SecretReaderProvider, Cluster: clientcmdv1.Cluster{
				Server:                   m.url,
				CertificateAuthorityData: m.ca.CertPEM,
				Extensions:               []clientcmdv1.NamedExtension{{Name: "client.authentication.k8s.io/exec", Extension: runtime.RawExtension{Raw: ext}}},
			}}},
		},
	}
}

// ApplyClusterProfile creates cp on the hub (and its namespace if needed),
// or updates it, then writes cp.Status through the status subresource, as
// a cluster manager does, after storing the token secretreader gives for
// cp when cp leads to a member. It returns the stored profile.
func (e *Env) ApplyClusterProfile(ctx context.Context, cp *cpv1alpha1.ClusterProfile) (*cpv1alpha1.ClusterProfile, error) {
	cfg, err := e.HubRESTConfig()
	if err != nil {
		return nil, err
	}
	hub := kubernetes.NewForConfigOrDie(cfg)
	if err := EnsureNamespace(ctx, hub, cp.Namespace); err != nil {
		return nil, err
	}
	if err := e.storeProfileToken(ctx, hub, cp); err != nil {
		return nil, err
	}
	profiles := cpclient.NewForConfigOrDie(cfg).ApisV1alpha1().ClusterProfiles(cp.Namespace)
	cur, err := profiles.Get(ctx, cp.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cur, err = profiles.Create(ctx, cp, metav1.CreateOptions{})
	case err == nil:
		next := cp.DeepCopy()
		next.ResourceVersion = cur.ResourceVersion
		cur, err = profiles.Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("writing ClusterProfile %s/%s (is its CRD installed?): %w", cp.Namespace, cp.Name, err)
	}
	cur.Status = *cp.Status.DeepCopy()
	if cur, err = profiles.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("writing the status of ClusterProfile %s/%s: %w", cp.Namespace, cp.Name, err)
	}
	return cur, nil
}

// EnsureNamespace creates namespace ns with kube unless it exists.
func EnsureNamespace(ctx context.Context, kube kubernetes.Interface, ns string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// RESTConfigFor is the client configuration of kubeconfig's current
// context, without client-side rate limits.
func RESTConfigFor(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	return cfg, nil
}
