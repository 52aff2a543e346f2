"""`kubectl cocoon` against the dev stack: the real operator process, the local control plane, the
local TON chain behind its liteserver and the process runtime (real Triton + runner simulator per
pod). The plugin runs as the installed `kubectl-cocoon` executable with the test's kubeconfig.

Also here, because it needs every metric family populated: a deleted CocoonNode's series are gone
from the operator's /metrics (money, health and status families alike).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cocoon_dev.ports import free_port
from cocoon_operator.steps import claim_request as cr
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.payouts import scan_owner_payouts
from tests.e2e.test_rewards_e2e import (
    SNP,
    TDX,
    TON,
    Stack,
    _assert_no_secrets,
    cond,
    stack,
    totals,
)
from tests.helpers.k8s import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.chain, pytest.mark.e2e, pytest.mark.timeout(1200)]
__all__ = ["stack"]  # the module-scoped dev stack fixture, a stack of this module's own

# Claims only when asked: a minimum no worker reaches in a test and a long interval.
NEVER_BY_ITSELF = {"minClaim": "1000", "maxFeeFraction": "1", "checkInterval": "24h"}


def _plugin() -> str:
    found = shutil.which("kubectl-cocoon", path=str(Path(sys.executable).parent))
    assert found, "kubectl-cocoon is not installed with the package (pip install -e .)"
    return found


class Plugin:
    def __init__(self, stack: Stack, metrics_url: str) -> None:
        self.stack, self.metrics_url = stack, metrics_url
        self.env = os.environ | {"KUBECONFIG": str(stack.cluster.kubeconfig), "COLUMNS": "250"}
        self.outputs: list[str] = []

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [_plugin(), *args], capture_output=True, text=True, timeout=timeout, env=self.env, check=False
        )
        self.outputs.append(proc.stdout + proc.stderr)
        return proc

    def json(self, *args: str) -> dict[str, Any]:
        proc = self.run(*args, "-o", "json")
        assert proc.returncode == 0, proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    def metrics(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            return str(response.read().decode())


@pytest.fixture(scope="module")
def plugin(stack: Stack) -> Iterator[Plugin]:
    """The stack's operator, restarted with its metrics exporter on (as the chart runs it)."""
    port = free_port()
    stack.operator.stop()
    stack.operator.env["COCOON_METRICS_PORT"] = str(port)
    stack.operator.start()
    url = f"http://127.0.0.1:{port}/metrics"
    wait_for(
        "the operator's metrics", lambda: _get(url), lambda text: "cocoon_build_info" in text, timeout_s=60
    )
    yield Plugin(stack, url)


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def _series(text: str, namespace: str, name: str) -> list[str]:
    label = f'name="{name}",namespace="{namespace}"'
    return [line for line in text.splitlines() if label in line and not line.startswith("#")]


async def _chain_balance(stack: Stack, address: str) -> int:
    async with stack.client() as client:
        return int((await client.account_state(address)).balance)


async def test_fleet_earnings_claim_pause_sweep_and_series_of_a_deleted_node(plugin: Plugin) -> None:
    stack, ns = plugin.stack, plugin.stack.namespace
    stack.create("pl-tdx", tee=TDX, rewards=NEVER_BY_ITSELF)
    stack.create("pl-snp", tee=SNP)
    for name in ("pl-tdx", "pl-snp"):
        stack.wait(f"{name} registered", name, lambda o: cond(o, "Registered").get("status") == "True", 300)

    # ---- fleet: the table's rows, traffic from the operator's metrics, wallets from the chain
    def fleet() -> dict[str, Any]:
        return plugin.json("fleet", "-A", "--chain", "--metrics-url", plugin.metrics_url)

    data = wait_for(
        "fleet rows with traffic",
        fleet,
        lambda d: all((r["requests"] or 0) > 0 and r["tokens"] for r in d["items"] if r["namespace"] == ns),
        timeout_s=180,
    )
    assert data["walletSource"] == "chain" and data["trafficSource"] == plugin.metrics_url
    rows = {r["name"]: r for r in data["items"] if r["namespace"] == ns}
    assert set(rows) == {"pl-tdx", "pl-snp"}
    for name, tee in (("pl-tdx", TDX), ("pl-snp", SNP)):
        obj = stack.cn(name)
        row = rows[name]
        assert row["tee"] == tee and row["node"] == obj["status"]["nodeName"]
        assert (
            row["ready"] == cond(obj, "Ready")["status"] and row["wallet"] == obj["status"]["walletAddress"]
        )
    # The wallet column is the chain's balance (read again until no transaction lands in between).
    wallet = rows["pl-tdx"]["wallet"]
    for _ in range(10):
        shown = next(r for r in fleet()["items"] if r["name"] == "pl-tdx")["wallet_nano"]
        if shown == await _chain_balance(stack, raw_address(wallet)):
            break
        time.sleep(1)
    else:
        raise AssertionError("the fleet's wallet balance never matched the chain")
    table = plugin.run("fleet", "-n", ns, "--metrics-url", plugin.metrics_url)
    assert table.returncode == 0 and "pl-tdx" in table.stdout and "claimable TON" in table.stdout

    # ---- claim: pl-tdx never claims by itself; the request is honoured once and lands on chain
    stack.wait(
        "something to claim",
        "pl-tdx",
        lambda o: int((o["status"].get("earnings") or {}).get("claimableNano") or 0) > 60_000_000,
        240,
    )
    assert totals(stack.cn("pl-tdx")).get("operatorClaims", 0) == 0
    claim = plugin.run("claim", "pl-tdx", "-n", ns, "--timeout", "300")
    assert claim.returncode == 0, claim.stdout + claim.stderr
    assert "Claimed" in claim.stdout and "On chain: payout of" in claim.stdout
    request = cr.stored(stack.cn("pl-tdx")["status"])
    assert request is not None and request.phase == cr.CLAIMED and request.tx_hashes
    owner = stack.owners["pl-tdx"]
    async with stack.client() as client:
        scan = await scan_owner_payouts(client, owner.address, after_lt=0, limit=256)
    paid = {p.tx_hash.lower(): p.value for p in scan.payouts}
    assert all(tx.lower() in paid for tx in request.tx_hashes)
    assert sum(paid[tx.lower()] for tx in request.tx_hashes) == request.amount_nano
    # Once per nonce: the same nonce again, and several more reconciles, start no second claim.
    stack.kubectl("annotate", "cn", "pl-tdx", "-n", ns, f"{cr.ANNOTATION}={request.nonce}", "--overwrite")
    time.sleep(10)
    after = stack.cn("pl-tdx")
    assert totals(after)["operatorClaims"] == 1 and not after["status"]["claims"].get("pending")
    assert cr.stored(after["status"]) == request

    # ---- earnings: the payout is the owner's, per day, from the chain
    earned = plugin.json("earnings", "-n", ns, "--since", "1d")
    mine = next(o for o in earned["owners"] if o["owner"] == raw_address(owner.address))
    assert mine["nodes"] == [f"{ns}/pl-tdx"] and mine["chainRead"]
    assert mine["paidNanoInWindow"] >= request.amount_nano
    assert mine["claimedNano"] == totals(after)["claimedNano"]
    assert plugin.run("earnings", "-n", ns, "--by", "week").returncode == 0

    # ---- pause / resume
    paused = plugin.run("pause", "pl-snp", "-n", ns, "--timeout", "60")
    assert paused.returncode == 0, paused.stdout
    assert cond(stack.cn("pl-snp"), "Ready")["reason"] == "Paused"
    assert f'cocoon_node_spec_paused{{name="pl-snp",namespace="{ns}"}} 1.0' in plugin.metrics()
    resumed = plugin.run("resume", "pl-snp", "-n", ns, "--timeout", "60")
    assert resumed.returncode == 0, resumed.stdout
    assert stack.cn("pl-snp")["spec"]["paused"] is False

    # ---- sweep: show, nothing to sweep, then a surplus swept once and the ceiling restored
    shown = plugin.run("sweep", "pl-tdx", "-n", ns)
    assert shown.returncode == 0 and "sweeping is off" in shown.stdout
    wallet_raw = raw_address(wallet)
    stack.bg.call(stack.bg.chain.faucet, wallet_raw, 5 * TON)
    stack.wait(
        "the surplus in status",
        "pl-tdx",
        lambda o: int((o["status"].get("funding") or {}).get("walletBalanceNano") or 0) > 9 * TON,
        120,
    )
    before = await _chain_balance(stack, raw_address(owner.address))
    swept = plugin.run("sweep", "pl-tdx", "-n", ns, "--now", "--timeout", "180")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "WalletSwept" in swept.stdout and "sweeping off" in swept.stdout
    record = stack.cn("pl-tdx")["status"]["sweep"]
    assert record["sweeps"] == 1 and "sweepAbove" not in stack.cn("pl-tdx")["spec"]["rewards"]
    assert (
        await _chain_balance(stack, raw_address(owner.address))
        >= before + record["lastAmountNano"] - TON // 10
    )
    assert plugin.run("sweep", "pl-tdx", "-n", ns, "--above", "1").returncode == 1  # below the target

    # ---- metrics: every family of a deleted CocoonNode goes
    text = plugin.metrics()
    families = {line.split("{")[0] for line in _series(text, ns, "pl-snp")}
    for family in (
        "cocoon_node_status_condition",
        "cocoon_wallet_balance_nanoton",
        "cocoon_worker_ready",
        "cocoon_wallet_floor_nanoton",
        "cocoon_funding_transfers_total",
    ):
        assert family in families, f"{family} missing before the deletion: {sorted(families)}"
    # The finalizer makes a last claim first (claimOnDelete, bounded by COCOON_FINALIZE_TIMEOUT_SECONDS).
    stack.kubectl("delete", "cn", "pl-snp", "-n", ns, "--wait=false")
    wait_for("pl-snp gone", lambda: stack.cn("pl-snp"), lambda obj: not obj, timeout_s=150)
    wait_for(
        "no series of pl-snp", lambda: _series(plugin.metrics(), ns, "pl-snp"), lambda s: not s, timeout_s=30
    )
    assert _series(plugin.metrics(), ns, "pl-tdx"), "the other CocoonNode keeps its series"

    # ---- nothing the plugin printed carries key material
    _assert_no_secrets(stack, ["pl-tdx", "pl-snp"])
    from tests.e2e.test_rewards_e2e import _secrets

    output = "\n".join(plugin.outputs)
    for secret in _secrets(stack, ["pl-tdx"]):
        assert secret not in output, "key material in the plugin's output"
