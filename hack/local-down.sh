#!/usr/bin/env bash
# local-down.sh stops a running hack/local-up.sh: it sends SIGTERM to the
# local-up process named in its pid file, which stops everything it started,
# and waits for it to exit. It signals no other process.
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PID_FILE="${PID_FILE:-${ROOT}/_output/local-up.pid}"

if [[ ! -f "${PID_FILE}" ]]; then
  echo "local-up is not running (no ${PID_FILE})"
  exit 0
fi
pid="$(<"${PID_FILE}")"
# The id may have been reused since local-up wrote it: check what runs under it.
if [[ ! "${pid}" =~ ^[0-9]+$ || "$(cat "/proc/${pid}/comm" 2>/dev/null)" != local-up ]]; then
  echo "local-up is not running (stale ${PID_FILE})"
  rm -f "${PID_FILE}"
  exit 0
fi
kill -TERM "${pid}"
for _ in $(seq 60); do
  # Gone, or exited and waiting for its parent to reap it.
  state="$(awk '{print $3}' "/proc/${pid}/stat" 2>/dev/null || true)"
  if [[ -z "${state}" || "${state}" == Z ]]; then
    echo "local-up stopped"
    exit 0
  fi
  sleep 0.5
done
echo "local-up (process ${pid}) did not stop within 30 s; see _output/local-up/logs" >&2
exit 1
