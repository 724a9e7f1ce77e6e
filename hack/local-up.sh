#!/usr/bin/env bash
# local-up.sh brings up the whole system on 127.0.0.1: etcd, a hub
# kube-apiserver, member kube-apiservers and clusters-apiserver registered on
# the hub. It stays in the foreground; Ctrl-C or hack/local-down.sh stops it.
# Arguments after -- go to clusters-apiserver, e.g.
#   hack/local-up.sh -- -v=4
# Other arguments go to local-up itself (see: hack/local-up.sh -help).
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

hack/build-binaries.sh
if [[ -d cmd/clusters-apiserver ]]; then
  echo "building clusters-apiserver"
  go build -o _output/bin/clusters-apiserver ./cmd/clusters-apiserver
fi
go build -o _output/bin/local-up ./test/harness/cmd/local-up

# clusters-apiserver also reads ClusterProfiles: install their CRD on the hub
# when the module that defines them is in the build, and publish member-2
# through a ClusterProfile too (local-up's -profile-member).
args=()
if dir="$(go list -m -f '{{.Dir}}' sigs.k8s.io/cluster-inventory-api 2>/dev/null)" && [[ -n "${dir}" ]]; then
  args+=(-hub-manifest "${dir}/config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml")
else
  args+=(-profile-member=)
fi
exec _output/bin/local-up "${args[@]}" "$@"
