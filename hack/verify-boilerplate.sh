#!/usr/bin/env bash
# verify-boilerplate.sh fails when a Go file of the repository does not
# start with the license header of hack/boilerplate.go.txt (after build
# constraints, which generated files put first).
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
header="$(cat hack/boilerplate.go.txt)"
lines="$(wc -l <hack/boilerplate.go.txt)"
missing=()
while IFS= read -r file; do
  if [[ "$(grep -v -e '^//go:build' -e '^// +build' "${file}" | sed '/./,$!d' | head -n "${lines}")" != "${header}" ]]; then
    missing+=("${file}")
  fi
done < <(git ls-files '*.go')
if ((${#missing[@]} > 0)); then
  echo "These files do not start with the license header of hack/boilerplate.go.txt:"
  printf '  %s\n' "${missing[@]}"
  exit 1
fi
