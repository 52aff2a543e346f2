"""What the demo shows: one snapshot of the fleet, from the API (status), the runners and the chain.

- CocoonNode status (the operator's view): node, conditions, wallet address, earnings, claim ledger.
- The runner's `/jsonstats` on the pod IP (requests served, tokens), read the way the operator reads
  it, because the status carries no traffic counters.
- The chain through the liteserver (pytoniq, the operator's chain client): wallet and owner balances,
  payouts at the owner, worker contract `tokens`. Claims count only once the chain shows them.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

from cocoon_operator.k8s import KubeClient
from cocoon_operator.k8s.config import load
from cocoon_operator.plugin import table
from cocoon_operator.plugin.table import FleetRow
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.payouts import PayoutTx, scan_owner_payouts
from cocoon_operator.ton.worker_contracts import read_worker_data

GROUP, VERSION = "cocoon.tonops.dev", "v1alpha1"
RUNNER_PORT = 12000


@dataclass(frozen=True)
class FleetClaim:
    """One payout recorded in a CocoonNode's ledger (what the operator says it confirmed)."""

    node: str
    owner: str  # raw address the payout goes to (the CocoonNode's spec.ownerAddress)
    proxy: str
    worker_contract: str
    tokens: int
    nano: int
    tx_hash: str
    source: str  # Operator (triggered by the operator) or External (e.g. a runner self-claim)


@dataclass
class NodeRow(FleetRow):
    """The shared fleet row (`cocoon_operator.plugin.table`) plus the ledger's claims the demo checks
    against the chain."""

    claims: list[FleetClaim] = field(default_factory=list)


@dataclass
class Snapshot:
    at: float
    rows: list[NodeRow]
    owners: dict[str, int | None]  # raw owner address -> balance (None: not read)
    height: int | None = None
    chain_error: str | None = None

    @property
    def claims(self) -> list[FleetClaim]:
        return [c for row in self.rows for c in row.claims]

    @property
    def owners_nano(self) -> int | None:
        """All owners' balances together (None until every one was read)."""
        values = list(self.owners.values())
        return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def claims_of(name: str, status: dict[str, Any], owner: str = "") -> list[FleetClaim]:
    """Confirmed payouts from the status ledger (`status.claims.history`, or `lastClaims` Confirmed)."""
    ledger = status.get("claims")
    if isinstance(ledger, dict):
        entries, proxy_key, nano_key, source = ledger.get("history") or [], "proxy", "nano", ""
    else:
        entries = [
            e for e in status.get("lastClaims") or [] if str(e.get("state", "")).lower() == "confirmed"
        ]
        proxy_key, nano_key, source = "proxyAddress", "amountNano", "Operator"
    return [
        FleetClaim(
            node=name,
            owner=owner,
            proxy=str(e.get(proxy_key, "")),
            worker_contract=str(e.get("workerContract", "")),
            tokens=_int(e.get("tokens")) or 0,
            nano=_int(e.get(nano_key)) or 0,
            tx_hash=str(e.get("txHash", "")),
            source=str(e.get("source", source)),
        )
        for e in entries
    ]


def row_of(obj: dict[str, Any]) -> NodeRow:
    """The shared row, with the ledger's claims; the wallet balance is read from the chain later."""
    base = table.row_of(obj)
    row = NodeRow(**{f.name: getattr(base, f.name) for f in fields(FleetRow)})
    row.wallet_nano = None
    row.claims = claims_of(row.name, obj.get("status") or {}, row.owner)
    row.claimed_nano = row.claimed_nano or sum(c.nano for c in row.claims)
    row.worker_contracts = sorted(
        {*row.worker_contracts, *(c.worker_contract for c in row.claims if c.worker_contract)}
    )
    return row


async def runner_stats(http: httpx.AsyncClient, ip: str) -> dict[str, Any] | None:
    if not ip:
        return None
    try:
        response = await http.get(f"http://{ip}:{RUNNER_PORT}/jsonstats", timeout=1.5)
        data: dict[str, Any] = json.loads(response.text)
    except (httpx.HTTPError, ValueError):
        return None
    return data


def apply_runner(row: NodeRow, stats: dict[str, Any] | None, fee_per_token: int) -> None:
    if not stats:
        return
    counters = stats.get("stats") or {}
    row.requests = _int((counters.get("success") or [None])[0])
    row.tokens = _int((counters.get("total_adjusted_tokens_used") or [None])[0])
    if not row.wallet:
        row.wallet = str((stats.get("wallet") or {}).get("address") or "")
    if row.claimable_nano is None:  # not in status yet: the runner's own claimable (to_payout)
        claimable = 0
        for p in stats.get("proxies") or []:
            committed = _int(p.get("earned_tokens_committed_to_blockchain")) or 0
            paid = max(_int(p.get("cached_out_tokens")) or 0, _int(p.get("expected_cached_out_tokens")) or 0)
            claimable += max(0, committed - paid)
        row.claimable_nano = claimable * fee_per_token


class Observer:
    """Collects snapshots; owns the API client, an HTTP client and a liteserver connection."""

    def __init__(self, kubeconfig: str, global_config: Path, network: dict[str, Any], namespace: str) -> None:
        self._kube = KubeClient(load(kubeconfig), timeout=10.0)
        self._global_config = json.loads(global_config.read_text())
        self.network = network
        self.namespace = namespace
        self.owners: list[str] = [raw_address(str(network["owner"]["address"]))]  # grows with the rows
        self.fee_per_token = int(network["params"]["worker_fee_per_token"])
        self.proxy_contracts = sorted(
            {
                raw_address(c)
                for p in network["proxies"]
                for c in [p["contract"], *p.get("previous_contracts", [])]
            }
        )
        self._http = httpx.AsyncClient(trust_env=False)
        self._chain: ChainClient | None = None

    async def close(self) -> None:
        await self._http.aclose()
        await self._kube.close()
        if self._chain is not None:
            await self._chain.close()

    async def chain(self) -> ChainClient:
        if self._chain is None:
            client = ChainClient.from_config(self._global_config)
            await client.start()
            self._chain = client
        return self._chain

    async def _balance(self, address: str) -> int | None:
        state = await (await self.chain()).account_state(address)
        return int(state.balance)

    async def snapshot(self) -> Snapshot:
        items = await self._kube.list(f"{GROUP}/{VERSION}", "CocoonNode", self.namespace)
        rows = [row_of(obj) for obj in sorted(items, key=lambda o: o["metadata"]["name"])]
        stats = await asyncio.gather(*(runner_stats(self._http, r.pod_ip) for r in rows))
        for row, s in zip(rows, stats, strict=True):
            apply_runner(row, s, self.fee_per_token)
        for row in rows:
            if row.owner and row.owner not in self.owners:
                self.owners.append(row.owner)
        snap = Snapshot(at=time.time(), rows=rows, owners=dict.fromkeys(self.owners))
        try:
            async with asyncio.timeout(8):
                for owner in self.owners:
                    snap.owners[owner] = await self._balance(owner)
                for row in rows:
                    if row.wallet:
                        row.wallet_nano = await self._balance(row.wallet)
        except Exception as exc:  # the view keeps going; the reason is shown
            snap.chain_error = f"{type(exc).__name__}: {exc}"
            if self._chain is not None:
                await self._chain.close()
                self._chain = None
        return snap

    async def owner_payouts(self) -> dict[str, list[PayoutTx]]:
        """Payouts from the network's proxy contracts, per owner."""
        found = {}
        for owner in self.owners:
            scan = await scan_owner_payouts(
                await self.chain(), owner, after_lt=0, sources=self.proxy_contracts
            )
            found[owner] = list(scan.payouts)
        return found

    async def worker_tokens(self, worker_contract: str) -> int | None:
        try:
            return (await read_worker_data(await self.chain(), worker_contract)).tokens
        except Exception:
            return None


def confirmed_on_chain(claims: list[FleetClaim], payouts: dict[str, list[PayoutTx]]) -> list[FleetClaim]:
    """The ledger's claims the chain shows: a payout at the claim's owner with that tx hash (or, when
    the ledger has no hash, from that proxy contract with that amount), each payout used once."""
    unused_by_owner = {owner: list(txs) for owner, txs in payouts.items()}
    found = []
    # CocoonNodes of one owner share a worker contract per proxy, so one payout can sit in several
    # ledgers (Operator in the node that triggered it, External elsewhere): the triggering one wins.
    # (The demo's samples have an owner each; a user's own CocoonNodes may share one.)
    for claim in sorted(claims, key=lambda c: c.source != "Operator"):
        unused = unused_by_owner.get(claim.owner, [])
        match = next(
            (p for p in unused if claim.tx_hash and p.tx_hash.lower() == claim.tx_hash.lower()), None
        )
        if match is None and not claim.tx_hash:
            proxy = raw_address(claim.proxy) if claim.proxy else ""
            match = next((p for p in unused if p.source == proxy and p.value == claim.nano), None)
        if match is not None:
            unused.remove(match)
            found.append(claim)
    return found
