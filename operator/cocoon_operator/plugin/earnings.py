"""`kubectl cocoon earnings`: per owner wallet, what its CocoonNodes earned — the ledger totals and
what is claimable now (from status), and the payouts that reached the owner per day, week or month
(from the chain: `payout` transactions from the nodes' proxy contracts)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cocoon_operator.plugin.chain import Chains
from cocoon_operator.plugin.table import row_of
from cocoon_operator.ton.addresses import raw_address

Period = Literal["day", "week", "month"]
SCAN_LIMIT = 2048  # owner transactions read per owner (newest first)


@dataclass
class OwnerEarnings:
    owner: str  # raw address
    nodes: list[str] = field(default_factory=list)  # namespace/name
    claimable_nano: int = 0  # now, from status
    claimed_nano: int = 0  # ledger totals since each node's ledger started, from status
    periods: dict[str, tuple[int, int]] = field(default_factory=dict)  # period start → (payouts, nanoTON)
    chain_read: bool = False
    scan_complete: bool = True  # False: more transactions than SCAN_LIMIT in the window

    @property
    def paid_nano(self) -> int:
        return sum(nano for _, nano in self.periods.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "nodes": self.nodes,
            "claimableNano": self.claimable_nano,
            "claimedNano": self.claimed_nano,
            "paidNanoInWindow": self.paid_nano if self.chain_read else None,
            "periods": [
                {"start": start, "payouts": count, "nano": nano}
                for start, (count, nano) in sorted(self.periods.items())
            ],
            "chainRead": self.chain_read,
            "scanComplete": self.scan_complete,
        }


def period_start(utime: int, period: Period) -> str:
    day = dt.datetime.fromtimestamp(utime, dt.UTC).date()
    if period == "week":
        day -= dt.timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return day.isoformat()


def proxies_of(obj: Mapping[str, Any]) -> set[str]:
    """Proxy contracts that pay this node's owner (current and earlier params versions, and the ledger's)."""
    status = obj.get("status") or {}
    found = {str(c["proxyAddress"]) for c in status.get("workerContracts") or [] if c.get("proxyAddress")}
    claims = status.get("claims") if isinstance(status.get("claims"), Mapping) else {}
    found |= {str(e["proxy"]) for e in (claims or {}).get("history") or [] if e.get("proxy")}
    return {raw_address(p) for p in found}


def by_owner(objs: Sequence[Mapping[str, Any]]) -> dict[str, OwnerEarnings]:
    owners: dict[str, OwnerEarnings] = {}
    for obj in objs:
        row = row_of(obj)
        if not row.owner:
            continue
        entry = owners.setdefault(row.owner, OwnerEarnings(owner=row.owner))
        entry.nodes.append(f"{row.namespace}/{row.name}")
        entry.claimable_nano += row.claimable_nano or 0
        entry.claimed_nano += row.claimed_nano
    return owners


async def gather(
    objs: Sequence[Mapping[str, Any]], chains: Chains | None, *, since: int, period: Period
) -> list[OwnerEarnings]:
    owners = by_owner(objs)
    if chains is not None:
        nodes_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for obj in objs:
            row = row_of(obj)
            if row.owner:
                nodes_of[row.owner].append(obj)
        for owner, entry in owners.items():
            sources: set[str] = set()
            for obj in nodes_of[owner]:
                sources |= proxies_of(obj)
            if not sources:
                entry.chain_read = True
                continue
            scan = await chains.payouts(nodes_of[owner][0], owner, sources, SCAN_LIMIT)
            if scan is None:
                continue
            entry.chain_read = True
            entry.scan_complete = scan.complete or any(p.utime < since for p in scan.payouts)
            buckets: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            for payout in scan.payouts:
                if payout.utime >= since:
                    bucket = buckets[period_start(payout.utime, period)]
                    bucket[0] += 1
                    bucket[1] += payout.value
            entry.periods = {k: (v[0], v[1]) for k, v in buckets.items()}
    return sorted(owners.values(), key=lambda e: e.owner)
