#!/usr/bin/env bash
# Runs every test tier. pytest exit code 5 ("no tests collected") is not a failure of the code,
# but a run that collected nothing is suspicious, so it is reported and treated as an error.
set -uo pipefail
cd "$(dirname "$0")/.."
# Short tracebacks: a failure's message stays near its header in a truncated CI log (--tb=long to override).
.venv/bin/pytest -p no:cacheprovider -ra --tb=short "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
