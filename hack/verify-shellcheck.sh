#!/usr/bin/env bash
# verify-shellcheck.sh runs shellcheck on the project's shell scripts. When
# it is missing, the script installs Debian's package if it can (as root,
# with apt-get, as on CI), and otherwise says how to get it.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

if ! command -v shellcheck >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "shellcheck is missing; installing Debian's package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq shellcheck >/dev/null
  else
    echo "shellcheck is not installed: install it (Debian, Ubuntu: apt-get install shellcheck; macOS: brew install shellcheck)" >&2
    exit 1
  fi
fi

mapfile -t scripts < <(git ls-files 'hack/*.sh' '.ci/*' 'hack/hooks/*')
shellcheck --external-sources "${scripts[@]}"
