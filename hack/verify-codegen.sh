#!/usr/bin/env bash
# Fails when the committed generated code differs from what
# hack/update-codegen.sh produces. It regenerates into a copy of the tree.

set -o errexit
set -o nounset
set -o pipefail

SCRIPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "${TMP}"' EXIT

# Copy the tracked and untracked-but-not-ignored files, then regenerate there.
cd "${SCRIPT_ROOT}"
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "${TMP}/" 2>/dev/null || true
(cd "${TMP}" && bash hack/update-codegen.sh >/dev/null)

status=0
for d in pkg/apis pkg/generated hack/api-rules-violations.list; do
    if ! diff -Nru "${SCRIPT_ROOT}/${d}" "${TMP}/${d}"; then
        status=1
    fi
done
if [[ ${status} -ne 0 ]]; then
    echo "Generated code is out of date. Run 'make update-codegen' and commit the result." >&2
fi
exit ${status}
