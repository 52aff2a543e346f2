"""`kubectl cocoon fleet`: the rows of the fleet table from the API, the operator's metrics and,
with `--chain`, live wallet balances."""

from __future__ import annotations

from dataclasses import dataclass

from cocoon_operator.plugin import exposition
from cocoon_operator.plugin.chain import Chains
from cocoon_operator.plugin.kube import Kube
from cocoon_operator.plugin.table import FleetRow, row_of


@dataclass(frozen=True)
class FleetView:
    rows: list[FleetRow]
    traffic_source: str  # where requests/tokens came from ("" when nowhere)
    wallet_source: str  # "status" (the operator's last reading) or "chain" (read now)
    problems: tuple[str, ...] = ()


async def gather(
    kube: Kube, namespace: str | None, *, metrics_url: str | None = None, chain: bool = False
) -> FleetView:
    objs = kube.cocoonnodes(namespace)
    rows = [row_of(obj) for obj in objs]
    problems: list[str] = []
    if metrics_url:
        text = exposition.fetch(metrics_url)
        source = metrics_url if text else ""
        if not text:
            problems.append(f"no metrics at {metrics_url}")
    else:
        text = kube.operator_metrics() if rows else None
        source = "the operator's metrics Service" if text else ""
    exposition.apply(rows, text)
    wallets = "status"
    if chain and rows:
        chains = Chains(kube)
        try:
            for obj, row in zip(objs, rows, strict=True):
                if row.wallet:
                    balance = await chains.balance(obj, row.wallet)
                    if balance is not None:
                        row.wallet_nano = balance
        finally:
            await chains.close()
        problems += chains.errors
        wallets = "chain"
    return FleetView(rows, source, wallets, tuple(problems))
