#!/usr/bin/env bash
# build-binaries.sh builds the programs the end-to-end harness runs as the
# hub and member clusters: kube-apiserver, kubectl and etcd, at the versions
# pinned in hack/tools/kube and hack/tools/etcd, and the secretreader
# credential plugin of the Cluster Inventory API at the version go.mod pins,
# which reaches members published as ClusterProfiles, into _output/bin/.
#
# A build is skipped while a stamp file records that the same pins, Go
# version and build flags produced the binaries already there, so a warm run
# takes seconds. Set FORCE=1 to rebuild anyway.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${BIN_DIR:-${ROOT}/_output/bin}"
STAMP_DIR="${ROOT}/_output/stamps"
mkdir -p "${BIN_DIR}" "${STAMP_DIR}"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off

# stamp_of prints a hash of everything that decides the output of one tools
# module: its sources and pins, this script, and the Go toolchain.
stamp_of() {
  local dir="$1"
  {
    go version
    go env GOOS GOARCH CGO_ENABLED
    cat "${BASH_SOURCE[0]}"
    cat "${dir}"/go.mod "${dir}"/go.sum "${dir}"/*.go
  } | sha256sum | cut -d' ' -f1
}

# up_to_date NAME STAMP BINARIES... succeeds when every binary exists and the
# stamp recorded for NAME matches STAMP.
up_to_date() {
  local name="$1" stamp="$2"
  shift 2
  [[ "${FORCE:-}" != 1 ]] || return 1
  [[ -f "${STAMP_DIR}/${name}" && "$(cat "${STAMP_DIR}/${name}")" == "${stamp}" ]] || return 1
  local bin
  for bin in "$@"; do
    [[ -x "${BIN_DIR}/${bin}" ]] || return 1
  done
}

# kube_ldflags prints the -X flags that make kube-apiserver and kubectl
# report the pinned release (as Kubernetes' own hack/lib/version.sh does)
# instead of v0.0.0-master. The build date is the release's publication time
# from the module proxy, so the output does not depend on when it is built.
kube_ldflags() {
  local dir="$1" version date major minor
  read -r version date < <(cd "${dir}" && go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  IFS=. read -r major minor _ <<<"${version#v}"
  local flags=(-s -w) pkg key val
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for key in gitVersion gitMajor gitMinor gitTreeState buildDate; do
      case "${key}" in
        gitVersion) val="${version}" ;;
        gitMajor) val="${major}" ;;
        gitMinor) val="${minor}" ;;
        gitTreeState) val=clean ;;
        buildDate) val="${date}" ;;
      esac
      flags+=("-X ${pkg}.${key}=${val}")
    done
  done
  echo "${flags[*]}"
}

build_kube() {
  local dir="${ROOT}/hack/tools/kube" stamp
  stamp="$(stamp_of "${dir}")"
  if up_to_date kube "${stamp}" kube-apiserver kubectl; then
    echo "kube-apiserver, kubectl: up to date"
    return
  fi
  echo "building kube-apiserver, kubectl (a cold build takes several minutes)"
  (cd "${dir}" && go build -trimpath -ldflags "$(kube_ldflags "${dir}")" -o "${BIN_DIR}/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
  echo "${stamp}" >"${STAMP_DIR}/kube"
}

build_etcd() {
  local dir="${ROOT}/hack/tools/etcd" stamp
  stamp="$(stamp_of "${dir}")"
  if up_to_date etcd "${stamp}" etcd; then
    echo "etcd: up to date"
    return
  fi
  echo "building etcd"
  (cd "${dir}" && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/etcd" .)
  echo "${stamp}" >"${STAMP_DIR}/etcd"
}

# build_secretreader builds the Cluster Inventory API's secretreader
# credential plugin from the module cache, with this module's dependency
# versions, so that it needs nothing beyond go.mod and go.sum.
build_secretreader() {
  local stamp
  stamp="$({
    go version
    go env GOOS GOARCH CGO_ENABLED
    cat "${BASH_SOURCE[0]}" "${ROOT}/go.mod" "${ROOT}/go.sum"
  } | sha256sum | cut -d' ' -f1)"
  if up_to_date secretreader "${stamp}" secretreader-plugin; then
    echo "secretreader-plugin: up to date"
    return
  fi
  echo "building secretreader-plugin"
  (cd "${ROOT}" && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/secretreader-plugin" \
    sigs.k8s.io/cluster-inventory-api/plugins/secretreader/cmd/plugin)
  echo "${stamp}" >"${STAMP_DIR}/secretreader"
}

build_etcd
build_kube
build_secretreader
"${BIN_DIR}/kubectl" version --client
