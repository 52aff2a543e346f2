#!/usr/bin/env bash
# Copies the canonical CRDs (crds/*.yaml) into the Helm chart (charts/cocoon-operator/files/crds/),
# which renders them from there (see the chart README, "CRDs"). The copy is a plain file, not a
# symlink, because `helm package` does not follow links out of the chart.
#   hack/sync-crds.sh          copy
#   hack/sync-crds.sh --check  exit 1 (and say which file) when the chart's copy differs
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$ROOT/crds
DST=$ROOT/charts/cocoon-operator/files/crds
mode=${1:-copy}
case "$mode" in
  copy|--check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
mkdir -p "$DST"
status=0
for f in "$SRC"/*.yaml; do
  name=$(basename "$f")
  if [ "$mode" = --check ]; then
    if ! cmp -s "$f" "$DST/$name"; then
      echo "out of date: charts/cocoon-operator/files/crds/$name (run hack/sync-crds.sh)" >&2
      status=1
    fi
  else
    cp "$f" "$DST/$name"
  fi
done
# copies of CRDs that no longer exist in crds/
for f in "$DST"/*.yaml; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  if [ ! -e "$SRC/$name" ]; then
    if [ "$mode" = --check ]; then
      echo "stale: charts/cocoon-operator/files/crds/$name has no source in crds/" >&2
      status=1
    else
      rm -f "$f"
    fi
  fi
done
exit "$status"
