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

// Package harness runs a real control plane on 127.0.0.1 for end-to-end
// tests and local development of clusters-apiserver: one etcd, a hub
// kube-apiserver with the aggregation layer and RBAC, member kube-apiservers
// described by a kubeconfig file, and clusters-apiserver itself registered
// on the hub through an APIService, as a real deployment would be.
//
// The binaries come from hack/build-binaries.sh (kube-apiserver, kubectl,
// etcd and the Cluster Inventory API's secretreader credential plugin in
// _output/bin) and from `go build ./cmd/clusters-apiserver`. With
// Options.ClusterProfiles, members are also published as ClusterProfiles,
// as a fleet's cluster manager would publish them. Every certificate is
// generated in Go. Every process is started in its own process group, dies
// with the process that started it, and is stopped by Env.Stop; the harness
// never signals a process it did not start.
package harness
