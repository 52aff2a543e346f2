"""The fleet table: one row per CocoonNode, rendered with rich. Shared by `kubectl cocoon fleet` and
the dev stack's demo (`cocoon-dev demo`), so both show the same columns the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table
from rich.text import Text

from cocoon_operator.api.units import nano_to_ton, status_int
from cocoon_operator.ton.addresses import raw_address

DASH = "—"


@dataclass
class FleetRow:
    """What the table shows of one CocoonNode. Amounts are nanoTON; None means "not known"."""

    name: str
    namespace: str = ""
    tee: str = "Any"
    owner: str = ""  # raw spec.ownerAddress ("" when invalid)
    node: str = ""  # Kubernetes node of the worker pod
    ready: str = "Unknown"
    reason: str = ""
    message: str = ""
    paused: bool = False
    requests: int | None = None  # requests the runner served for proxies
    tokens: int | None = None  # adjusted tokens credited to the worker
    claimable_nano: int | None = None
    claimed_nano: int = 0
    pod_ip: str = ""
    wallet: str = ""  # cocoon wallet address
    wallet_nano: int | None = None
    worker_contracts: list[str] = field(default_factory=list)
    not_true: dict[str, str] = field(default_factory=dict)  # condition type -> "Status/Reason"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), {})


def row_of(obj: Mapping[str, Any]) -> FleetRow:
    """A row from a CocoonNode as the API returns it (spec and the operator's status only)."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ready = condition(status, "Ready")
    row = FleetRow(
        name=str(meta["name"]),
        namespace=str(meta.get("namespace") or ""),
        tee=str((spec.get("placement") or {}).get("tee", "Any")),
        paused=bool(spec.get("paused")),
    )
    try:
        row.owner = raw_address(str(spec.get("ownerAddress") or ""))
    except Exception:  # not a valid address: the operator's Configured condition says why
        row.owner = ""
    row.not_true = {
        str(c.get("type")): f"{c.get('status')}/{c.get('reason')}"
        for c in status.get("conditions") or []
        if c.get("status") != "True" and c.get("type") != "Ready"
    }
    row.node = str(status.get("nodeName") or "")
    row.ready = str(ready.get("status", "Unknown"))
    row.reason = str(ready.get("reason", "NotObserved"))
    row.message = str(ready.get("message", ""))
    scheduled = condition(status, "Scheduled")
    if scheduled.get("status") == "False":  # the placement explanation is the interesting part
        row.reason, row.message = str(scheduled.get("reason", row.reason)), str(scheduled.get("message", ""))
    earnings = status.get("earnings") or {}
    claims = status.get("claims")
    totals = (claims.get("totals") if isinstance(claims, Mapping) else None) or {}
    row.claimable_nano = status_int(earnings.get("claimableNano"))
    row.claimed_nano = status_int(earnings.get("claimedNano")) or status_int(totals.get("claimedNano")) or 0
    row.wallet = str(status.get("walletAddress") or "")
    row.wallet_nano = status_int((status.get("funding") or {}).get("walletBalanceNano"))
    row.worker_contracts = sorted(
        {str(w["address"]) for w in status.get("workerContracts") or [] if w.get("address")}
    )
    row.pod_ip = str(status.get("podIP") or "")
    return row


def ton(nano: int | None) -> str:
    """nanoTON as TON, exact, without trailing zeros ("—" when unknown)."""
    return DASH if nano is None else nano_to_ton(nano)


def short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}" if len(address) > 14 else address or DASH


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def fleet_table(
    rows: Sequence[FleetRow], *, title: str, namespaces: bool = False, wallet_address: bool = False
) -> Table:
    """The table itself: CocoonNode, TEE, Kubernetes node, Ready, reason, requests, tokens,
    claimable, claimed and wallet balance (TON); optionally the namespace and the wallet address."""
    table = Table(title=title, title_justify="left", expand=False)
    columns: list[tuple[str, str]] = [("namespace", "left")] if namespaces else []
    columns += [
        ("CocoonNode", "left"), ("TEE", "left"), ("k8s node", "left"), ("Ready", "left"),
        ("reason", "left"), ("requests", "right"), ("tokens", "right"), ("claimable TON", "right"),
        ("claimed TON", "right"),
    ]  # fmt: skip
    columns += [("wallet", "left")] if wallet_address else []
    columns += [("wallet TON", "right")]
    for col, justify in columns:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        style = "green" if row.ready == "True" else "yellow" if row.node or row.paused else "red"
        cells: list[str | Text] = [row.namespace] if namespaces else []
        cells += [
            row.name, row.tee, row.node or DASH, Text(row.ready, style=style), row.reason,
            _count(row.requests), _count(row.tokens), ton(row.claimable_nano), ton(row.claimed_nano),
        ]  # fmt: skip
        cells += [short(row.wallet)] if wallet_address else []
        cells += [ton(row.wallet_nano)]
        table.add_row(*cells)
    return table


def placement_notes(rows: Iterable[FleetRow]) -> list[Text]:
    """Why the CocoonNodes without a Kubernetes node have none (the placement explanation)."""
    return [Text(f"  {row.name}: {row.message}", style="dim") for row in rows if not row.node and row.message]
