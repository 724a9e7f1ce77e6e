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

package clusters

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SourceType names the kind of source a Cluster was found in.
type SourceType string

const (
	// SourceTypeKubeconfig is a context in a kubeconfig file.
	SourceTypeKubeconfig SourceType = "Kubeconfig"
	// SourceTypeClusterProfile is a Cluster Inventory API ClusterProfile on the hub.
	SourceTypeClusterProfile SourceType = "ClusterProfile"
)

// Labels and condition types of a Cluster.
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

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Cluster is a member cluster of the fleet, as seen from the hub.
type Cluster struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ClusterSpec
	Status ClusterStatus
}

// ClusterSpec describes how a member cluster is reached, without credentials.
type ClusterSpec struct {
	Server                string
	DisplayName           string
	TLSServerName         string
	InsecureSkipTLSVerify bool
	Source                ClusterSource
}

// ClusterSource tells where a Cluster was found.
type ClusterSource struct {
	Type           SourceType
	Kubeconfig     *KubeconfigSource
	ClusterProfile *ClusterProfileSource
}

// KubeconfigSource locates a Cluster in a kubeconfig file.
type KubeconfigSource struct {
	File    string
	Context string
	Cluster string
}

// ClusterProfileSource locates a Cluster in a ClusterProfile on the hub.
type ClusterProfileSource struct {
	Namespace      string
	Name           string
	ClusterManager string
	AccessProvider string
}

// ClusterStatus is what the server last observed about a member cluster.
type ClusterStatus struct {
	Conditions []metav1.Condition
	Version    *ClusterVersion
	Properties []ClusterProperty
}

// ClusterVersion holds the versions a member cluster reports.
type ClusterVersion struct {
	Kubernetes string
}

// ClusterProperty is one name/value property of a ClusterProfile.
type ClusterProperty struct {
	Name  string
	Value string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterList is a list of Clusters.
type ClusterList struct {
	metav1.TypeMeta
	metav1.ListMeta

	Items []Cluster
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterProxyOptions is the query options of the proxy subresource.
type ClusterProxyOptions struct {
	metav1.TypeMeta

	// Path is the path to request on the member's API server.
	Path string
}
