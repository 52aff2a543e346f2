#!/usr/bin/env bash
# Renders docs/dashboard.png from the running dev stack (`make demo` or `cocoon-dev up` first): a real
# Prometheus (built from its Go module into the testenv cache) scrapes the dev stack's operator every
# 5 s for MINUTES minutes, then cocoon_dev.dashboard_png evaluates the dashboard's queries against it
# and draws them. Prometheus runs on 127.0.0.1 only and its data is thrown away afterwards.
#   hack/render-dashboard.sh [MINUTES]     (default 20)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MINUTES=${1:-20}
PROM=$(bash "$ROOT/hack/install-go-tool.sh" prometheus --print)
[ -x "$PROM" ] || bash "$ROOT/hack/install-go-tool.sh" prometheus
TARGET=$("$ROOT/.venv/bin/cocoon-dev" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["operator"]["metrics"] or "")')
[ -n "$TARGET" ] || { echo "error: the dev stack's operator is not running (make demo)" >&2; exit 1; }
HOSTPORT=${TARGET#http://}; HOSTPORT=${HOSTPORT%%/*}
WORK=$(mktemp -d); trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: cocoon-operator
    honor_labels: true
    static_configs: [{targets: ["$HOSTPORT"]}]
YAML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PROM" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PORT" --log.level=warn > "$WORK/prometheus.log" 2>&1 &
PID=$!
echo "Prometheus on 127.0.0.1:$PORT scrapes $TARGET; rendering in $MINUTES min"
sleep $((MINUTES * 60))
"$ROOT/.venv/bin/python" -m cocoon_dev.dashboard_png --prometheus "http://127.0.0.1:$PORT" --minutes "$MINUTES"
