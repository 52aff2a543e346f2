"""The plugin's pure parts: rows from CocoonNodes, the shared table, traffic from the operator's
exposition, earnings grouped by owner and period, the sweep figures, the command line."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rich.console import Console

from cocoon_operator.plugin import actions, cli, earnings, exposition
from cocoon_operator.plugin.table import fleet_table, placement_notes, row_of
from cocoon_operator.ton.addresses import raw_address
from tests.unit.builders import OWNER, cocoonnode

TON = 10**9
PROXY = "0:" + "a" * 64


def _node(name: str, **status: Any) -> dict[str, Any]:
    obj = cocoonnode(name, "ns1")
    obj["spec"]["placement"] = {"tee": "TDX"}
    obj["status"] = status
    return obj


def _healthy(name: str = "w1") -> dict[str, Any]:
    return _node(
        name,
        nodeName="gpu-0",
        walletAddress="UQ" + "A" * 46,
        conditions=[{"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok"}],
        earnings={"claimableNano": 370_000_000, "claimedNano": 148_000_000},
        funding={"walletBalanceNano": 4_677_943_195},
        workerContracts=[{"proxyAddress": PROXY, "address": "0:" + "b" * 64}],
        claims={"history": [{"proxy": PROXY, "nano": 148_000_000}], "totals": {"claimedNano": 148_000_000}},
    )


def _render(renderable: Any) -> str:
    console = Console(width=250, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_row_from_status() -> None:
    row = row_of(_healthy())
    assert (row.namespace, row.name, row.tee, row.node, row.ready, row.reason) == (
        "ns1", "w1", "TDX", "gpu-0", "True", "Reconciled",
    )  # fmt: skip
    assert row.claimable_nano == 370_000_000 and row.claimed_nano == 148_000_000
    assert row.wallet_nano == 4_677_943_195 and row.owner == raw_address(OWNER)


def test_unplaceable_row_shows_the_placement_explanation() -> None:
    obj = _node(
        "b200",
        conditions=[
            {"type": "Ready", "status": "False", "reason": "NoConfidentialGPUNode", "message": "x"},
            {
                "type": "Scheduled",
                "status": "False",
                "reason": "NoConfidentialGPUNode",
                "message": "0 of 10 fit",
            },
        ],
    )
    row = row_of(obj)
    assert row.reason == "NoConfidentialGPUNode" and row.message == "0 of 10 fit"
    assert row.not_true == {"Scheduled": "False/NoConfidentialGPUNode"}
    assert "b200: 0 of 10 fit" in _render(placement_notes([row]))


def test_the_table_has_the_demo_columns() -> None:
    text = _render(fleet_table([row_of(_healthy())], title="t", namespaces=True))
    for column in ("namespace", "CocoonNode", "TEE", "k8s node", "Ready", "reason", "requests", "tokens",
                   "claimable TON", "claimed TON", "wallet TON"):  # fmt: skip
        assert column in text
    assert "0.37" in text and "0.148" in text and "4.677943195" in text


def test_traffic_from_the_exposition() -> None:
    text = (
        'cocoon_worker_runner_requests_total{name="w1",namespace="ns1",outcome="success"} 18.0\n'
        'cocoon_worker_runner_requests_total{name="w1",namespace="ns1",outcome="failure"} 2.0\n'
        'cocoon_worker_adjusted_tokens_total{name="w1",namespace="ns1"} 666.0\n'
    )
    rows = [row_of(_healthy())]
    exposition.apply(rows, text)
    assert (rows[0].requests, rows[0].tokens) == (18, 666)
    with pytest.raises(ValueError, match="http"):
        exposition.fetch("file:///etc/passwd")


def test_earnings_by_owner_and_period() -> None:
    owners = earnings.by_owner([_healthy("w1"), _healthy("w2"), _node("bad", conditions=[])])
    (entry,) = owners.values()
    assert entry.nodes == ["ns1/w1", "ns1/w2", "ns1/bad"]
    assert entry.claimable_nano == 2 * 370_000_000 and entry.claimed_nano == 2 * 148_000_000
    assert earnings.proxies_of(_healthy()) == {PROXY}
    monday = int(dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC).timestamp())
    assert earnings.period_start(monday + 3 * 86400, "week") == "2026-11-23"
    assert earnings.period_start(monday, "month") == "2026-11-01"
    assert earnings.period_start(monday, "day") == "2026-11-23"


def test_sweep_figures() -> None:
    obj = _healthy()
    obj["spec"]["wallet"]["target"] = "5"
    obj["status"]["funding"]["walletBalanceNano"] = 12 * TON
    obj["status"]["sweep"] = {"sweeps": 2, "sweptNano": 3 * TON, "lastTxHash": "ab"}
    state = actions.sweep_state(obj)
    assert state["surplusNano"] == 12 * TON - 5 * TON - 50_000_000
    assert state["sweepAboveNano"] is None and state["sweeps"] == 2


def test_command_line() -> None:
    parser = cli._parser()
    args = parser.parse_args(["fleet", "-A", "-o", "json"])
    assert args.all_namespaces and args.output == "json"
    args = parser.parse_args(["claim", "w1", "-n", "ns1", "--timeout", "30"])
    assert (args.name, args.namespace, args.timeout) == ("w1", "ns1", 30.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["sweep", "w1", "--off", "--now"])
    assert cli._since_seconds("7d") == 7 * 86400 and cli._since_seconds("90m") == 5400
