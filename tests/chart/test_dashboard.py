"""The Grafana dashboard: generated from code (the committed JSON is what the generator writes), shipped
by the chart in a ConfigMap with the sidecar's label (off by default), and every metric a panel
queries is one the operator exposes."""

from __future__ import annotations

import json
import re

import pytest

from tests.chart.tools import CHART, one, render
from tests.helpers.metrics import series_names

dashboard = pytest.importorskip("cocoon_dev.dashboard", reason="grafana-foundation-sdk is not installed")
METRIC = re.compile(r"\b(cocoon_[a-z0-9_]+)\b")
JSON_PATH = CHART / "dashboards" / "cocoon-fleet.json"


def _exprs(board: dict[str, object]) -> list[tuple[str, str]]:
    found = []
    for panel in board["panels"]:  # type: ignore[attr-defined]
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def test_committed_json_is_what_the_code_generates() -> None:
    assert JSON_PATH.read_text() == dashboard.render(), "run: python -m cocoon_dev.dashboard"


def test_every_panel_queries_metrics_the_operator_exposes() -> None:
    exposed = series_names()
    board = json.loads(JSON_PATH.read_text())
    exprs = _exprs(board)
    assert len(exprs) >= 20
    for title, expr in exprs:
        names = METRIC.findall(expr)
        assert names, f"{title}: no cocoon metric in {expr}"
        for name in names:
            assert name in exposed, f"panel {title!r} queries {name}, which the operator does not expose"


def test_the_dashboard_covers_what_an_admin_watches() -> None:
    titles = " ".join(p["title"] for p in json.loads(JSON_PATH.read_text())["panels"]).lower()
    for topic in ("earned", "claim", "wallet", "treasury", "ready", "reconcile latency"):
        assert topic in titles, topic
    variables = {v["name"] for v in json.loads(JSON_PATH.read_text())["templating"]["list"]}
    assert variables == {"datasource", "namespace"}


def test_chart_ships_it_in_a_configmap_for_the_sidecar() -> None:
    assert not [o for o in render() if o["kind"] == "ConfigMap"], "off by default"
    objs = render({"dashboard.enabled": "true", "dashboard.annotations.grafana_folder": "COCOON"})
    cm = one(objs, "ConfigMap", "-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "COCOON"}
    assert json.loads(cm["data"]["cocoon-fleet.json"]) == json.loads(JSON_PATH.read_text())
    elsewhere = render({"dashboard.enabled": "true", "dashboard.namespace": "monitoring"})
    assert one(elsewhere, "ConfigMap", "-dashboard")["metadata"]["namespace"] == "monitoring"


def test_the_rendering_uses_the_dashboards_own_queries() -> None:
    """docs/dashboard.png is drawn from PANELS, with only Grafana's variables filled in."""
    png = pytest.importorskip("cocoon_dev.dashboard_png")
    for panel in dashboard.PANELS:
        for target in panel.targets:
            expr = png.concrete(target.expr)
            assert "$" not in expr, expr
            assert expr == target.expr.replace("$namespace", ".*").replace("$__rate_interval", "1m")
    assert png.legend("{{namespace}}/{{name}}", {"namespace": "a", "name": "b"}) == "a/b"
    assert png.legend("{{treasury}}", {}) == "series"
