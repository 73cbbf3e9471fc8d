#!/usr/bin/env bash
# Stops exactly the processes hack/dev-up.sh started (recorded in .dev/pids), newest first.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pids="${root}/.dev/pids"
[[ -f "${pids}" ]] || { echo "dev-down: nothing running"; exit 0; }
tac "${pids}" | while read -r pid name; do
  if kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}" && echo "dev-down: stopped ${name} (${pid})"
    for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${pid}" 2>/dev/null && kill -KILL "${pid}"
  fi
done
rm -f "${pids}"
