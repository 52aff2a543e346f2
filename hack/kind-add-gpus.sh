#!/usr/bin/env bash
# Turns the GPU workers of a kind cluster made from kind-config.yaml into "confidential GPU nodes":
#   1. adds the NFD TEE label the kubelet may not set on itself
#      (feature.node.kubernetes.io/cpu-security.tdx.protected or .../sev.snp.enabled), derived from
#      cloud.google.com/gke-confidential-nodes-instance-type;
#   2. advertises nvidia.com/gpu = the node's nvidia.com/gpu.count label, by patching the Node's
#      status subresource (the documented way to add an extended resource to a node); the kubelet
#      then derives allocatable from it.
# Idempotent. Uses the current kubeconfig (KUBECONFIG / --context).
#   hack/kind-add-gpus.sh [--context kind-cocoon] [--timeout 60] [--selector LABELS] [--set-allocatable]
# --selector narrows the nodes (default: nvidia.com/gpu.present=true).
# --set-allocatable patches allocatable too, for simulated nodes without a kubelet (KWOK; the chart
# tests use it against the local control plane).
set -euo pipefail
KUBECTL=${KUBECTL:-kubectl}
ctx=()
timeout=60
set_allocatable=0
selector=nvidia.com/gpu.present=true
while [ $# -gt 0 ]; do
  case "$1" in
    --context) ctx=(--context "$2"); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --set-allocatable) set_allocatable=1; shift ;;
    --selector) selector=$2; shift 2 ;;
    *) echo "usage: $0 [--context NAME] [--timeout SECONDS] [--selector LABELS] [--set-allocatable]" >&2; exit 2 ;;
  esac
done
k() { "$KUBECTL" "${ctx[@]}" "$@"; }

nodes=$(k get nodes -l "$selector" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
if [ -z "$nodes" ]; then
  echo "error: no node matches $selector (was the cluster made from kind-config.yaml?)" >&2
  exit 1
fi
for n in $nodes; do
  tee_kind=$(k get node "$n" -o jsonpath='{.metadata.labels.cloud\.google\.com/gke-confidential-nodes-instance-type}')
  case "$tee_kind" in
    TDX) k label node "$n" --overwrite feature.node.kubernetes.io/cpu-security.tdx.protected=true >/dev/null ;;
    SEV_SNP) k label node "$n" --overwrite feature.node.kubernetes.io/cpu-security.sev.snp.enabled=true >/dev/null ;;
    *) echo "warning: node $n has no TDX/SEV_SNP instance-type label; no TEE label added" >&2 ;;
  esac
  count=$(k get node "$n" -o jsonpath='{.metadata.labels.nvidia\.com/gpu\.count}')
  case "$count" in
    ''|*[!0-9]*) echo "error: node $n: label nvidia.com/gpu.count must be a whole number, got '$count'" >&2; exit 1 ;;
  esac
  # JSON-patch "add" replaces an existing value too; "~1" escapes the "/" in the resource name.
  patch="[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$count\"}"
  if [ "$set_allocatable" = 1 ]; then
    patch="$patch,{\"op\":\"add\",\"path\":\"/status/allocatable/nvidia.com~1gpu\",\"value\":\"$count\"}"
  fi
  k patch node "$n" --subresource=status --type=json -p "$patch]" >/dev/null
  echo "node $n: tee=${tee_kind:-none} nvidia.com/gpu=$count"
done

# wait until the kubelets report the GPUs as allocatable
deadline=$((SECONDS + timeout))
for n in $nodes; do
  want=$(k get node "$n" -o jsonpath='{.metadata.labels.nvidia\.com/gpu\.count}')
  until [ "$(k get node "$n" -o jsonpath='{.status.allocatable.nvidia\.com/gpu}')" = "$want" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "error: node $n does not report nvidia.com/gpu=$want as allocatable after ${timeout}s" >&2
      exit 1
    fi
    sleep 2
  done
done
echo "GPU capacity is allocatable on: $(echo "$nodes" | tr '\n' ' ')"
