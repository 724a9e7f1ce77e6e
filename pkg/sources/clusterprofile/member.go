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

package clusterprofile

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cpv1alpha1 "sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"

	"github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters"
	"github.com/headlamp-k8s/clusters-apiserver/pkg/inventory"
)

// Name maps a ClusterProfile's namespace and name to a Cluster name:
// "cp.<namespace>.<name>". A namespace has no dots, so the mapping is
// injective, and only ClusterProfiles produce names starting with "cp."
// (inventory.ClusterProfilePrefix). A result longer than 253 characters is
// cut and given "-" plus the first 8 hex digits of the SHA-256 of
// "<namespace>/<name>".
func Name(namespace, name string) string {
	return inventory.HashSuffixed(inventory.ClusterProfilePrefix+namespace+"."+name, namespace+"/"+name)
}

// priority puts ClusterProfiles after every kubeconfig source in name
// collisions, which their reserved "cp." prefix already rules out.
const priority = 1 << 20

// memberBuilder turns ClusterProfiles into inventory members.
type memberBuilder struct {
	providers    *ProvidersFile
	providerFile string
	impersonate  bool
}

// member maps cp to a member. A profile that cannot be reached is still a
// member, with an access error that becomes Ready=False and the proxy's 503.
func (b *memberBuilder) member(cp *cpv1alpha1.ClusterProfile) inventory.Member {
	c := &clusters.Cluster{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: cp.CreationTimestamp, Labels: map[string]string{}},
		Spec: clusters.ClusterSpec{
			DisplayName: cp.Spec.DisplayName,
			Source: clusters.ClusterSource{
				Type: clusters.SourceTypeClusterProfile,
				ClusterProfile: &clusters.ClusterProfileSource{
					Namespace:      cp.Namespace,
					Name:           cp.Name,
					ClusterManager: cp.Spec.ClusterManager.Name,
				},
			},
		},
	}
	for k, v := range cp.Labels {
		c.Labels[k] = v
	}
	if cp.Status.Version.Kubernetes != "" {
		c.Status.Version = &clusters.ClusterVersion{Kubernetes: cp.Status.Version.Kubernetes}
	}
	for _, p := range cp.Status.Properties {
		c.Status.Properties = append(c.Status.Properties, clusters.ClusterProperty{Name: p.Name, Value: p.Value})
	}
	if cond := meta.FindStatusCondition(cp.Status.Conditions, cpv1alpha1.ClusterConditionControlPlaneHealthy); cond != nil {
		cond := *cond
		cond.ObservedGeneration = 0
		c.Status.Conditions = append(c.Status.Conditions, cond)
	}

	m := inventory.Member{
		Name:     Name(cp.Namespace, cp.Name),
		Origin:   "clusterprofile:" + cp.Namespace + "/" + cp.Name,
		Priority: priority,
		Cluster:  c,
	}
	provider, ap := chosenProvider(cp, b.providers.Providers)
	if provider == nil {
		if offered := offeredNames(cp); len(offered) > 0 {
			m.Access = noAccess(clusters.ReasonNoAccessProvider, fmt.Sprintf("none of the profile's access providers (%s) is configured in %s (%s)",
				strings.Join(offered, ", "), b.providerFile, strings.Join(configured(b.providers.Config), ", ")))
			first := firstOffered(cp)
			setEndpoint(c, first)
		} else {
			m.Access = noAccess(clusters.ReasonNoAccessProvider, "the profile lists no access providers in status.accessProviders")
		}
		return m
	}
	c.Spec.Source.ClusterProfile.AccessProvider = ap.Name
	setEndpoint(c, ap)
	cfg, exec, err := buildAccess(cp.Name, provider, ap, !b.providers.clusterNameFromProfile[provider.Name])
	if err != nil {
		m.Access = noAccess(clusters.ReasonInvalidAccessProvider, err.Error())
		return m
	}
	m.Access = inventory.Access{
		Config:      cfg,
		Impersonate: b.impersonate,
		Hash:        inventory.AccessHash(provider.Name, exec, ap.Cluster, b.impersonate),
		Via:         fmt.Sprintf("access provider %q", provider.Name),
	}
	return m
}

func configured(cfg *access.Config) []string {
	var names []string
	for _, p := range cfg.Providers {
		names = append(names, p.Name)
	}
	return names
}

func firstOffered(cp *cpv1alpha1.ClusterProfile) *cpv1alpha1.AccessProvider {
	if len(cp.Status.AccessProviders) > 0 {
		return &cp.Status.AccessProviders[0]
	}
	if len(cp.Status.CredentialProviders) > 0 {
		return &cp.Status.CredentialProviders[0]
	}
	return nil
}

// setEndpoint shows where the member is, without a credential.
func setEndpoint(c *clusters.Cluster, ap *cpv1alpha1.AccessProvider) {
	if ap == nil {
		return
	}
	c.Spec.Server = ap.Cluster.Server
	c.Spec.TLSServerName = ap.Cluster.TLSServerName
	c.Spec.InsecureSkipTLSVerify = ap.Cluster.InsecureSkipTLSVerify
}
