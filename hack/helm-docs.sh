#!/usr/bin/env bash
# Regenerates charts/cocoon-operator/README.md from README.md.gotmpl and the comments in values.yaml with
# helm-docs (built from its Go module into the testenv cache: hack/install-go-tool.sh helm-docs).
#   hack/helm-docs.sh           write the README
#   hack/helm-docs.sh --check   exit 1 when the committed README differs from what helm-docs writes
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELM_DOCS=${COCOON_HELM_DOCS:-$(bash "$ROOT/hack/install-go-tool.sh" helm-docs --print)}
[ -x "$HELM_DOCS" ] || { echo "error: helm-docs is not built: run hack/install-go-tool.sh helm-docs" >&2; exit 1; }
CHART=$ROOT/charts/cocoon-operator
case "${1:-}" in
  "") "$HELM_DOCS" --chart-search-root "$CHART" --template-files README.md.gotmpl --output-file README.md \
        --sort-values-order file --log-level warning ;;
  --check)
    TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
    cp -r "$CHART" "$TMP/chart"
    "$HELM_DOCS" --chart-search-root "$TMP/chart" --template-files README.md.gotmpl --output-file README.md \
      --sort-values-order file --log-level warning
    diff -u "$CHART/README.md" "$TMP/chart/README.md" ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
