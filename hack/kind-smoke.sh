#!/usr/bin/env bash
# Smoke test for a kind cluster (kind-config.yaml + hack/kind-add-gpus.sh) with the chart installed:
# applies an example CocoonNode, with its ConfigMap, treasury Secret and model PVC, into NAMESPACE and
# waits until the operator reports Scheduled=True (the worker pod is bound to a fitting confidential
# GPU node). The example's CPU/memory requests are shrunk to fit CI runners; GPUs, TEE and placement
# stay as written. Used by the kind CI job.
#   hack/kind-smoke.sh NAMESPACE [EXAMPLE_FILE]     (default examples/cocoonnode-tdx.yaml)
set -euo pipefail
KUBECTL=${KUBECTL:-kubectl}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ns=${1:?usage: $0 NAMESPACE [EXAMPLE_FILE]}
example=${2:-$ROOT/examples/cocoonnode-tdx.yaml}
k() { "$KUBECTL" -n "$ns" "$@"; }
field() { "$KUBECTL" patch --local -f "$example" --type=merge -p '{}' -o jsonpath="$1"; }  # offline read

k apply -f "$ROOT/examples/ton-global-config.yaml" -f "$ROOT/examples/treasury-secret.yaml"
claim=$(field '{.spec.inference.modelSource.pvc.claimName}')
if [ -n "$claim" ]; then
  # kind's default StorageClass (local-path, WaitForFirstConsumer) binds it when the pod is scheduled
  k apply -f - <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $claim}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
YAML
fi
name=$(field '{.metadata.name}')
echo "applying $example (CocoonNode $name) in namespace $ns"
small='{"spec":{"inference":{"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}}}}}'
"$KUBECTL" patch --local -f "$example" --type=merge -p "$small" -o yaml | k apply -f -
if ! k wait --for=condition=Scheduled "cocoonnode/$name" --timeout=180s; then
  k get "cocoonnode/$name" -o yaml >&2 || true
  k get pods -o wide >&2 || true
  exit 1
fi
k get cocoonnodes -o wide
k delete "cocoonnode/$name" --wait --timeout=180s
