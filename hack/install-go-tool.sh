#!/usr/bin/env bash
# Builds a Go command-line tool from its Go module into the testenv cache, keyed by version, where the
# tests find it (tests/chart/tools.py). Idempotent: a binary that reports the pinned version is kept.
# Versions are pinned in tools/versions.env.
#   hack/install-go-tool.sh promtool|helm-docs|prometheus          build if missing
#   hack/install-go-tool.sh promtool|helm-docs|prometheus --print  print the binary's path
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$HERE/../tools/versions.env"
CACHE=${COCOON_TESTENV_CACHE:-$HOME/.cache/cocoon-operator/testenv}
name=${1:-}
CHECK=(--version)
case "$name" in
  promtool|prometheus)
    # Both report the version that prometheus/common's version package was linked with. prometheus is
    # only for rendering docs/dashboard.png from the dev stack (hack/render-dashboard.sh); not in setup.
    VERSION=$PROMTOOL_VERSION
    PKG=github.com/prometheus/prometheus/cmd/$name
    SHOWN=${VERSION#0.}; SHOWN=$((10#${SHOWN%%.*} / 100)).$((10#${SHOWN%%.*} % 100)).${SHOWN#*.}
    LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=$SHOWN" ;;
  helm-docs)
    VERSION=$HELM_DOCS_VERSION
    PKG=github.com/norwoodj/helm-docs/cmd/helm-docs
    SHOWN=$VERSION
    LDFLAGS="-s -w -X main.version=$VERSION" ;;
  *) echo "usage: $0 promtool|helm-docs|prometheus [--print]" >&2; exit 2 ;;
esac
OUT=$CACHE/$name-v$VERSION
if [ "${2:-}" = --print ]; then echo "$OUT/$name"; exit 0; fi
if [ -x "$OUT/$name" ] && "$OUT/$name" "${CHECK[@]}" 2>&1 | grep -qF -- "$SHOWN"; then
  echo "$name v$VERSION present in $OUT"; exit 0
fi
command -v go >/dev/null || { echo "error: the Go toolchain is needed to build $name" >&2; exit 1; }
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.$name-build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "building $name v$VERSION from $PKG"
GOBIN=$TMP CGO_ENABLED=0 nice go install ${COCOON_BUILD_PARALLEL:+-p $COCOON_BUILD_PARALLEL} \
  -trimpath -ldflags "$LDFLAGS" "$PKG@v$VERSION"
"$TMP/$name" "${CHECK[@]}" 2>&1 | head -1
rm -rf "$OUT"; mkdir -p "$OUT"; mv "$TMP/$name" "$OUT/$name"
echo "$name v$VERSION -> $OUT"
