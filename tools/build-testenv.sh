#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl),
# etcd, kwok/kwokctl and helm from Go modules into a cache outside the repo, keyed by version.
# Idempotent: a component whose binaries already report the pinned version is skipped.
#   COCOON_TESTENV_CACHE   cache root (default ~/.cache/cocoon-operator/testenv)
#   --regen                regenerate the wrapper go.mod files from upstream (after a version bump)
#   --print-dir            print the cache root and exit
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
CACHE=${COCOON_TESTENV_CACHE:-$HOME/.cache/cocoon-operator/testenv}
REGEN=0
for a in "$@"; do
  case "$a" in
    --regen) REGEN=1 ;;
    --print-dir) echo "$CACHE"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
command -v go >/dev/null || { echo "error: the Go toolchain (go >= 1.26) is needed to build the control plane" >&2; exit 1; }
mkdir -p "$CACHE"
export CGO_ENABLED=0
# Go builds on a 2-core machine starve everything else; let the caller cap it.
GOFLAGS_P=${COCOON_BUILD_PARALLEL:+-p $COCOON_BUILD_PARALLEL}

log() { printf '[testenv %(%H:%M:%S)T] %s\n' -1 "$*"; }

have() {  # have <binary> <version-substring>: binary exists and reports that version
  [ -x "$1" ] && "$1" "${@:3}" 2>/dev/null | grep -q -- "$2"
}

timed() {  # run a step, report its wall time and peak RSS
  local name=$1; shift
  local t0=$SECONDS
  if command -v /usr/bin/time >/dev/null; then
    /usr/bin/time -f "[testenv] $name: %e s wall, peak RSS %M KB" "$@"
  else
    "$@"
  fi
  log "$name done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- kubernetes
k8s_regen() {
  local V=$K8S_VERSION dir=$HERE/k8s-bins
  cd "$dir"; rm -f go.mod go.sum
  go mod init cocoon.local/tools/k8s-bins >/dev/null 2>&1
  local UP; UP=$(go mod download -json "k8s.io/kubernetes@v$V" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  go mod edit -go="$(awk '$1=="go"{print $2}' "$UP")"
  local GD; GD=$(awk '$1=="godebug"{print $2}' "$UP"); [ -n "$GD" ] && go mod edit -godebug="$GD"
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$UP"); do
    go mod edit -replace="$m=$m@v0.${V#1.}"
  done
  go mod edit -require="k8s.io/kubernetes@v$V"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    go mod edit -tool="k8s.io/kubernetes/cmd/$c"
  done
  go mod tidy
}
k8s_build() {
  local V=$K8S_VERSION OUT=$CACHE/k8s-v$K8S_VERSION
  if have "$OUT/kube-apiserver" "v$V" --version && have "$OUT/kube-scheduler" "v$V" --version \
     && have "$OUT/kube-controller-manager" "v$V" --version && [ -x "$OUT/kubectl" ]; then
    log "kubernetes v$V present in $OUT"; return
  fi
  [ "$REGEN" = 1 ] || [ ! -f "$HERE/k8s-bins/go.mod" ] && k8s_regen
  log "building kubernetes v$V (apiserver, controller-manager, scheduler, kubectl); the first build takes long"
  local MINOR; MINOR=$(echo "$V" | cut -d. -f2)
  local LD="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X $p.gitVersion=v$V -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
  done
  local TMP; TMP=$(mktemp -d "$CACHE/.k8s-build.XXXXXX")
  (cd "$HERE/k8s-bins" && go mod download && timed "go build kubernetes" go build $GOFLAGS_P -trimpath -ldflags "$LD" -o "$TMP/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
     k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  "$TMP/kube-apiserver" --version | grep -q "v$V" || { echo "error: kube-apiserver --version does not say v$V" >&2; exit 1; }
  rm -rf "$OUT"; mv "$TMP" "$OUT"
  log "kubernetes v$V -> $OUT"
}

# ---------------------------------------------------------------- etcd
etcd_build() {
  local V=$ETCD_VERSION OUT=$CACHE/etcd-v$ETCD_VERSION dir=$HERE/etcd-bin
  if have "$OUT/etcd" "$V" --version; then log "etcd v$V present in $OUT"; return; fi
  if [ "$REGEN" = 1 ] || [ ! -f "$dir/go.mod" ]; then
    (cd "$dir" && rm -f go.mod go.sum && go mod init cocoon.local/tools/etcd-bin >/dev/null 2>&1 \
      && go mod edit -go=1.25.0 -require="go.etcd.io/etcd/server/v3@v$V" -tool=go.etcd.io/etcd/server/v3 && go mod tidy)
  fi
  log "building etcd v$V"
  local TMP; TMP=$(mktemp -d "$CACHE/.etcd-build.XXXXXX")
  (cd "$dir" && go mod download && timed "go build etcd" go build $GOFLAGS_P -trimpath -ldflags "-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$OUT"; mv "$TMP" "$OUT"
  log "etcd v$V -> $OUT"
}

# ---------------------------------------------------------------- kwok
kwok_build() {
  local V=$KWOK_VERSION OUT=$CACHE/kwok-v$KWOK_VERSION dir=$HERE/kwok-bin
  if have "$OUT/kwok" "$V" --version && [ -x "$OUT/kwokctl" ] && [ -d "$OUT/stages" ]; then log "kwok v$V present in $OUT"; return; fi
  if [ "$REGEN" = 1 ] || [ ! -f "$dir/go.mod" ]; then
    (cd "$dir" && rm -f go.mod go.sum && go mod init cocoon.local/tools/kwok-bin >/dev/null 2>&1 \
      && go mod edit -require="sigs.k8s.io/kwok@v$V" -tool=sigs.k8s.io/kwok/cmd/kwok -tool=sigs.k8s.io/kwok/cmd/kwokctl && go mod tidy)
  fi
  log "building kwok v$V"
  local TMP; TMP=$(mktemp -d "$CACHE/.kwok-build.XXXXXX")
  (cd "$dir" && go mod download && timed "go build kwok" go build $GOFLAGS_P -trimpath -ldflags "-s -w" -o "$TMP/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl)
  # The default KWOK stages ship inside the module; copy the ones the launcher uses.
  local SRC; SRC=$(cd "$dir" && go mod download -json "sigs.k8s.io/kwok@v$V" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$TMP/stages"
  cp "$SRC"/kustomize/stage/node/fast/node-initialize.yaml "$SRC"/kustomize/stage/node/heartbeat/node-heartbeat.yaml "$TMP/stages/"
  cp "$SRC"/kustomize/stage/pod/fast/*.yaml "$TMP/stages/"
  chmod -R u+w "$TMP/stages"
  rm -rf "$OUT"; mv "$TMP" "$OUT"
  log "kwok v$V -> $OUT"
}

# ---------------------------------------------------------------- helm
helm_build() {
  local V=$HELM_VERSION OUT=$CACHE/helm-v$HELM_VERSION dir=$HERE/helm-bin
  if have "$OUT/helm" "v$V" version; then log "helm v$V present in $OUT"; return; fi
  if [ "$REGEN" = 1 ] || [ ! -f "$dir/go.mod" ]; then
    (cd "$dir" && rm -f go.mod go.sum && go mod init cocoon.local/tools/helm-bin >/dev/null 2>&1 \
      && go mod edit -require="helm.sh/helm/v3@v$V" -tool=helm.sh/helm/v3/cmd/helm && go mod tidy)
  fi
  log "building helm v$V"
  local TMP; TMP=$(mktemp -d "$CACHE/.helm-build.XXXXXX")
  (cd "$dir" && go mod download && timed "go build helm" go build $GOFLAGS_P -trimpath \
     -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$V" -o "$TMP/helm" helm.sh/helm/v3/cmd/helm)
  rm -rf "$OUT"; mv "$TMP" "$OUT"
  log "helm v$V -> $OUT"
}

T0=$SECONDS
log "cache: $CACHE"
etcd_build
kwok_build
helm_build
k8s_build
log "all binaries ready in $((SECONDS - T0)) s"
