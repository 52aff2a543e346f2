#!/usr/bin/env bash
# Smoke test for a cluster where the chart is installed: applies an example CocoonNode into NAMESPACE
# and waits until the operator reports Scheduled=True (the worker pod is bound to a fitting
# confidential GPU node). Used by the kind CI job; works on any cluster made from kind-config.yaml.
#   hack/kind-smoke.sh NAMESPACE [EXAMPLE_FILE]
set -euo pipefail
KUBECTL=${KUBECTL:-kubectl}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ns=${1:?usage: $0 NAMESPACE [EXAMPLE_FILE]}
example=${2:-}
if [ -z "$example" ]; then
  example=$(grep -l '^kind: CocoonNode' "$ROOT"/examples/*.yaml | head -1 || true)
fi
[ -n "$example" ] && [ -f "$example" ] || { echo "error: no example CocoonNode found in examples/" >&2; exit 1; }
name=$("$KUBECTL" create --dry-run=client -o jsonpath='{.metadata.name}' -f "$example")
echo "applying $example (CocoonNode $name) in namespace $ns"
"$KUBECTL" apply -n "$ns" -f "$example"
if ! "$KUBECTL" wait -n "$ns" --for=condition=Scheduled "cocoonnode/$name" --timeout=180s; then
  "$KUBECTL" get -n "$ns" "cocoonnode/$name" -o yaml >&2 || true
  exit 1
fi
"$KUBECTL" get -n "$ns" cocoonnodes -o wide
"$KUBECTL" delete -n "$ns" "cocoonnode/$name" --wait --timeout=180s
