"""The chart's alert rules: rendered by the real helm, checked and unit-tested by the real promtool
(`promtool check rules`, `promtool test rules` with tests/chart/alerts/*.test.yaml), every alert
covered by a test case, every metric an alert reads present in the operator's exposition."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import find_tool, one, render, run, tool_cache_dir, versions
from tests.helpers.metrics import series_names

ALERT_TESTS = sorted((Path(__file__).parent / "alerts").glob("*.test.yaml"))
METRIC = re.compile(r"\b(cocoon_[a-z0-9_]+)\b")


def promtool_bin() -> str:
    version = versions()["PROMTOOL_VERSION"]
    found = find_tool("promtool", "COCOON_PROMTOOL", tool_cache_dir() / f"promtool-v{version}" / "promtool")
    if found is None:
        pytest.skip(f"promtool v{version} is not built: run hack/install-go-tool.sh promtool")
    return found


def _rule(values: dict[str, str] | None = None) -> dict[str, Any]:
    objs = render({"prometheusRule.enabled": "true", **(values or {})})
    return one(objs, "PrometheusRule")


def _write_rules(directory: Path, rule: dict[str, Any]) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def _alerts(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def test_off_by_default() -> None:
    assert not [o for o in render() if o["kind"] == "PrometheusRule"]


def test_promtool_checks_the_rendered_rules(tmp_path: Path) -> None:
    rules = _write_rules(tmp_path, _rule())
    out = run([promtool_bin(), "check", "rules", str(rules)])
    assert "SUCCESS" in out.stdout


def test_promtool_unit_tests(tmp_path: Path) -> None:
    _write_rules(tmp_path, _rule())
    for test in ALERT_TESTS:
        shutil.copy(test, tmp_path / test.name)
    run([promtool_bin(), "test", "rules", *(str(tmp_path / t.name) for t in ALERT_TESTS)], timeout=120)


def test_every_alert_has_a_firing_test_case() -> None:
    alerts = {a["alert"] for a in _alerts(_rule())}
    firing: set[str] = set()
    for test in ALERT_TESTS:
        for case in yaml.safe_load(test.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    firing.add(check["alertname"])
    assert alerts == firing, f"alerts without a firing test: {alerts - firing}; unknown: {firing - alerts}"
    assert len(alerts) >= 13


def test_alerts_read_only_metrics_the_operator_exposes() -> None:
    exposed = series_names()
    for alert in _alerts(_rule()):
        for name in METRIC.findall(alert["expr"]):
            assert name in exposed, f"{alert['alert']} reads {name}, which the operator does not expose"


def test_every_alert_is_documented_with_a_severity() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    for alert in _alerts(_rule()):
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert f"## {alert['alert']}" in doc, f"docs/alerts.md has no section for {alert['alert']}"


def test_thresholds_are_values() -> None:
    rule = _rule(
        {
            "prometheusRule.treasuryRunwayDays": "14",
            "prometheusRule.workerNotReadyFor": "1h",
            "prometheusRule.walletCriticalTon": "3",
            "prometheusRule.alertLabels.team": "gpu-fleet",
            "prometheusRule.runbookBaseURL": "https://example.org/alerts.md",
            "prometheusRule.labels.release": "prom",
        }
    )
    by_name = {a["alert"]: a for a in _alerts(rule)}
    assert "14 * 86400" in by_name["CocoonTreasuryRunwayLow"]["expr"]
    assert by_name["CocoonWorkerNotReady"]["for"] == "1h"
    assert "< 3 * 1e9" in by_name["CocoonWalletBelowRunnerMinimum"]["expr"]
    assert all(a["labels"]["team"] == "gpu-fleet" for a in by_name.values())
    assert by_name["CocoonClaimStuck"]["annotations"]["runbook_url"] == (
        "https://example.org/alerts.md#cocoonclaimstuck"
    )
    assert rule["metadata"]["labels"]["release"] == "prom"
    assert "runbook_url" not in _alerts(_rule())[0]["annotations"]


def test_operator_absent_watches_the_service_monitors_job() -> None:
    objs = render({"prometheusRule.enabled": "true", "serviceMonitor.enabled": "true"})
    svc = one(objs, "Service", "-metrics")["metadata"]
    (absent,) = [a for a in _alerts(one(objs, "PrometheusRule")) if a["alert"] == "CocoonOperatorAbsent"]
    assert f'job="{svc["name"]}"' in absent["expr"] and f'namespace="{svc["namespace"]}"' in absent["expr"]
