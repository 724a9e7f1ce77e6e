// +k8s:deepcopy-gen=package
// +groupName=clusters.headlamp.dev

// Package clusters is the internal version of the clusters.headlamp.dev API.
package clusters
