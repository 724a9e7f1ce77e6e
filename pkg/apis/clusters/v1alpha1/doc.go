// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/headlamp-k8s/clusters-apiserver/pkg/apis/clusters
// +k8s:defaulter-gen=TypeMeta
// +groupName=clusters.headlamp.dev
// +k8s:openapi-model-package=dev.headlamp.clusters.v1alpha1

// Package v1alpha1 is the v1alpha1 version of the clusters.headlamp.dev API:
// a read-only, live view of the member clusters a hub can reach.
package v1alpha1
