#!/usr/bin/env bash
# Builds the GitHub Actions workflow linter (rhysd/actionlint) from its Go module into the testenv
# cache, where tests/chart/test_ci_files.py finds it. Idempotent; takes about a minute on 2 cores.
#   hack/install-actionlint.sh            build if missing
#   hack/install-actionlint.sh --print    print the binary's path
set -euo pipefail
VERSION=${ACTIONLINT_VERSION:-v1.7.12}
CACHE=${COCOON_TESTENV_CACHE:-$HOME/.cache/cocoon-operator/testenv}
OUT=$CACHE/actionlint-$VERSION
if [ "${1:-}" = --print ]; then echo "$OUT/actionlint"; exit 0; fi
if [ -x "$OUT/actionlint" ] && "$OUT/actionlint" --version | grep -q "^$VERSION"; then
  echo "actionlint $VERSION present in $OUT"; exit 0
fi
command -v go >/dev/null || { echo "error: the Go toolchain is needed to build actionlint" >&2; exit 1; }
mkdir -p "$OUT"
GOBIN=$OUT CGO_ENABLED=0 nice go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
"$OUT/actionlint" --version | head -1
