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

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SourceType names the kind of source a Cluster was found in.
// +enum
type SourceType string

const (
	// SourceTypeKubeconfig is a context in a kubeconfig file given to the server.
	SourceTypeKubeconfig SourceType = "Kubeconfig"
	// SourceTypeClusterProfile is a Cluster Inventory API ClusterProfile on the hub.
	SourceTypeClusterProfile SourceType = "ClusterProfile"
)

// Labels and condition types set on Clusters.
const (
	// LabelSource is set on every Cluster to the lower-case source type:
	// "kubeconfig" or "clusterprofile".
	LabelSource = "clusters.headlamp.dev/source"
	// ConditionReady is True when the member's API server answers its health checks.
	ConditionReady = "Ready"
	// ConditionControlPlaneHealthy mirrors a ClusterProfile's ControlPlaneHealthy condition.
	ConditionControlPlaneHealthy = "ControlPlaneHealthy"
)

// Reasons of the Ready condition. They are API: clients and alerts may
// match on them.
const (
	// ReasonPending: the member has not been checked yet (Ready is Unknown).
	ReasonPending = "Pending"
	// ReasonHealthy: the member's /readyz (or /healthz) answered 200.
	ReasonHealthy = "Healthy"
	// ReasonUnhealthy: the member answered its health check, but not 200.
	ReasonUnhealthy = "Unhealthy"
	// ReasonUnreachable: the member's address does not answer (refused,
	// timed out, no route).
	ReasonUnreachable = "Unreachable"
	// ReasonTLSError: the TLS handshake with the member failed (unknown
	// authority, wrong host name, expired certificate).
	ReasonTLSError = "TLSError"
	// ReasonCredentialError: the member's credential could not be obtained,
	// for example its exec plugin failed or did not finish in time.
	ReasonCredentialError = "CredentialError" //nolint:gosec // a condition reason, not a credential
	// ReasonBadGateway: the member answered with something that is not a
	// valid HTTP response.
	ReasonBadGateway = "BadGateway"
	// ReasonInvalidKubeconfig: the kubeconfig context cannot be used.
	ReasonInvalidKubeconfig = "InvalidKubeconfig"
	// ReasonNoAccessProvider: none of the ClusterProfile's access providers
	// is configured in the server's provider file.
	ReasonNoAccessProvider = "NoAccessProvider"
	// ReasonInvalidAccessProvider: the chosen access provider's data is not
	// usable, or breaks a rule for untrusted profiles.
	ReasonInvalidAccessProvider = "InvalidAccessProvider"
)

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=get,list,watch
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Cluster is a member cluster of the fleet, as seen from the hub. Clusters are
// not stored anywhere: clusters-apiserver builds them live from its sources
// (kubeconfig files, Cluster Inventory API ClusterProfiles), so they can be
// read and watched but not created, changed or deleted through the API.
// A Cluster never carries a credential. Reach the member's API server through
// the proxy subresource: /apis/clusters.headlamp.dev/v1alpha1/clusters/NAME/proxy/.
type Cluster struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata. The name is derived from the source and is
	// the same on every replica and after every restart; see the README for
	// the naming rules. Every Cluster has the label
	// clusters.headlamp.dev/source.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec describes how the member cluster is reached, without credentials.
	// +optional
	Spec ClusterSpec `json:"spec,omitempty"`
	// Status is what clusters-apiserver last observed about the member cluster.
	// +optional
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterSpec describes how a member cluster is reached, without credentials.
type ClusterSpec struct {
	// Server is the URL of the member cluster's API server, for example
	// https://10.0.0.1:6443. A path in it (as some cluster managers use) is
	// kept by the proxy.
	Server string `json:"server"`
	// DisplayName is a human-friendly name for the cluster: the original
	// kubeconfig context name, or the ClusterProfile's spec.displayName.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// TLSServerName is the name the member's serving certificate is checked
	// against, when it differs from the host in server.
	// +optional
	TLSServerName string `json:"tlsServerName,omitempty"`
	// InsecureSkipTLSVerify is true when the member's serving certificate is
	// not verified. Traffic to such a member can be intercepted.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// Source tells where clusters-apiserver found this cluster.
	Source ClusterSource `json:"source"`
}

// ClusterSource tells where a Cluster was found. Exactly one of kubeconfig
// and clusterProfile is set, matching type.
type ClusterSource struct {
	// Type is the kind of source: Kubeconfig or ClusterProfile.
	Type SourceType `json:"type"`
	// Kubeconfig locates the cluster in a kubeconfig file. Set when type is Kubeconfig.
	// +optional
	Kubeconfig *KubeconfigSource `json:"kubeconfig,omitempty"`
	// ClusterProfile locates the cluster in a ClusterProfile on the hub. Set
	// when type is ClusterProfile.
	// +optional
	ClusterProfile *ClusterProfileSource `json:"clusterProfile,omitempty"`
}

// KubeconfigSource locates a Cluster in a kubeconfig file.
type KubeconfigSource struct {
	// File is the path of the kubeconfig file, as clusters-apiserver sees it.
	File string `json:"file"`
	// Context is the original name of the context in that file, before it
	// was mapped to a Kubernetes object name.
	Context string `json:"context"`
	// Cluster is the name of the kubeconfig cluster entry the context uses.
	// +optional
	Cluster string `json:"cluster,omitempty"`
}

// ClusterProfileSource locates a Cluster in a ClusterProfile on the hub.
type ClusterProfileSource struct {
	// Namespace is the namespace of the ClusterProfile.
	Namespace string `json:"namespace"`
	// Name is the name of the ClusterProfile.
	Name string `json:"name"`
	// ClusterManager is the name of the cluster manager that publishes the
	// ClusterProfile (its spec.clusterManager.name).
	// +optional
	ClusterManager string `json:"clusterManager,omitempty"`
	// AccessProvider is the name of the access provider chosen to reach the
	// cluster, from the server's provider file.
	// +optional
	AccessProvider string `json:"accessProvider,omitempty"`
}

// ClusterStatus is what clusters-apiserver last observed about a member cluster.
type ClusterStatus struct {
	// Conditions describe the cluster's state. Ready is True when the member's
	// API server answers clusters-apiserver's health checks; its reason and
	// message say why it is not. Ready reasons: Pending (not checked yet),
	// Healthy, Unhealthy (the health check answered, not 200), Unreachable,
	// TLSError, CredentialError (the credential could not be obtained, e.g.
	// its exec plugin failed or timed out), BadGateway (not a valid HTTP
	// answer), InvalidKubeconfig, NoAccessProvider and InvalidAccessProvider
	// (ClusterProfiles). ClusterProfiles add ControlPlaneHealthy.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Version holds the versions the member cluster reports, when known.
	// +optional
	Version *ClusterVersion `json:"version,omitempty"`
	// Properties are the ClusterProfile's status.properties, when there are any.
	// +optional
	// +listType=map
	// +listMapKey=name
	Properties []ClusterProperty `json:"properties,omitempty"`
}

// ClusterVersion holds the versions a member cluster reports.
type ClusterVersion struct {
	// Kubernetes is the member API server's Kubernetes version, for example v1.37.0.
	// +optional
	Kubernetes string `json:"kubernetes,omitempty"`
}

// ClusterProperty is one name/value property a cluster manager published
// for the cluster.
type ClusterProperty struct {
	// Name of the property, for example clusterset.k8s.io.
	Name string `json:"name"`
	// Value of the property.
	Value string `json:"value"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// Items are the Clusters, sorted by name.
	Items []Cluster `json:"items"`
}

// +k8s:conversion-gen:explicit-from=net/url.Values
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterProxyOptions is the query options of a Cluster's proxy subresource,
// /apis/clusters.headlamp.dev/v1alpha1/clusters/NAME/proxy/PATH, which
// forwards a request to PATH on the member's API server.
type ClusterProxyOptions struct {
	metav1.TypeMeta `json:",inline"`

	// Path is the path to request on the member's API server.
	// +optional
	Path string `json:"path,omitempty"`
}
