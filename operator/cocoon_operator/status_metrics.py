"""Per-CocoonNode series derived from what the reconcile wrote: conditions, spec switches and
thresholds and the claim clock (the treasury balance is the funding step's gauge, never in a status).

A collector that renders the latest view of each CocoonNode at scrape time, so a deleted node's series
go with one `forget` and an operator restart rebuilds them from the objects (the status is
durable; nothing here is counted in memory). The condition gauge follows kube-state-metrics'
`kube_node_status_condition`: one series per condition and status (`true`, `false`, `unknown`),
1 for the current status and 0 for the others, so `== 1` selects and `for:` keeps working across a
flap.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from pydantic import ValidationError

from cocoon_operator import metrics as node_series
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.api.units import status_int

NODE = ("namespace", "name")
CONDITION_STATUSES = ("true", "false", "unknown")


@dataclass(frozen=True)
class NodeView:
    """What the series of one CocoonNode are rendered from (no secrets: addresses and numbers)."""

    conditions: tuple[tuple[str, str], ...] = ()  # (type, "true" | "false" | "unknown")
    paused: bool = False
    tee: str = ""
    node: str = ""
    model: str = ""
    floor_nano: int | None = None
    target_nano: int | None = None
    last_claim_at: int | None = None
    claim_pending_since: int | None = None
    observed_at: float = 0.0


def view_of(
    spec: Mapping[str, Any] | None, status: Mapping[str, Any], *, now: float | None = None
) -> NodeView:
    """Pure: the series' source from a CocoonNode's spec and its status after the reconcile."""
    conditions = tuple(
        (str(c.get("type")), str(c.get("status", "Unknown")).lower())
        for c in status.get("conditions") or []
        if c.get("type")
    )
    floor = target = None
    paused = bool((spec or {}).get("paused"))
    tee = model = ""
    try:
        parsed = parse_spec(spec)
    except (ValidationError, ValueError, TypeError):
        parsed = None
    if parsed is not None:
        floor, target, paused = parsed.wallet.floor, parsed.wallet.target, parsed.paused
        tee, model = str(parsed.placement.tee), parsed.model.name
    claims = status.get("claims") or {}
    pending = claims.get("pending") if isinstance(claims, Mapping) else None
    return NodeView(
        conditions=conditions,
        paused=paused,
        tee=tee,
        node=str(status.get("nodeName") or ""),
        model=model,
        floor_nano=floor,
        target_nano=target,
        last_claim_at=status_int(claims.get("lastClaimAt")) if isinstance(claims, Mapping) else None,
        claim_pending_since=status_int(pending.get("createdAt")) if isinstance(pending, Mapping) else None,
        observed_at=time.time() if now is None else now,
    )


class StatusMetrics(node_series.LatestPerNode[NodeView]):
    """Holds the latest `NodeView` per CocoonNode and renders it at scrape time."""

    def add(self, families: list[node_series.Family], key: list[str], value: NodeView) -> None:
        condition, info, paused, floor, target, last_claim, pending = families
        for type_, status in value.conditions:
            for candidate in CONDITION_STATUSES:
                condition.add_metric([*key, type_, candidate], 1.0 if status == candidate else 0.0)
        info.add_metric([*key, value.tee, value.node, value.model], 1.0)
        paused.add_metric(key, 1.0 if value.paused else 0.0)
        if value.floor_nano is not None:
            floor.add_metric(key, float(value.floor_nano))
        if value.target_nano is not None:
            target.add_metric(key, float(value.target_nano))
        if value.last_claim_at is not None:
            last_claim.add_metric(key, float(value.last_claim_at))
        if value.claim_pending_since is not None:
            pending.add_metric(key, float(value.claim_pending_since))

    def families(self) -> list[node_series.Family]:
        return [
            GaugeMetricFamily(
                "cocoon_node_status_condition",
                "CocoonNode condition: 1 for its current status (true, false, unknown), 0 for the others",
                labels=[*NODE, "condition", "status"],
            ),
            GaugeMetricFamily(
                "cocoon_node_info",
                "Always 1: the CocoonNode's TEE kind, Kubernetes node and model",
                labels=[*NODE, "tee", "node", "model"],
            ),
            GaugeMetricFamily(
                "cocoon_node_spec_paused", "1 when the CocoonNode is paused (spec.paused)", labels=NODE
            ),
            GaugeMetricFamily(
                "cocoon_wallet_floor_nanoton",
                "spec.wallet.floor: below this the operator tops the cocoon wallet up",
                labels=NODE,
            ),
            GaugeMetricFamily(
                "cocoon_wallet_target_nanoton",
                "spec.wallet.target: what a top-up fills the cocoon wallet to",
                labels=NODE,
            ),
            GaugeMetricFamily(
                "cocoon_last_claim_timestamp_seconds",
                "Unix time of the last claim paid to the owner (the ledger's lastClaimAt)",
                labels=NODE,
            ),
            GaugeMetricFamily(
                "cocoon_claim_pending_since_timestamp_seconds",
                "Unix time the open claim was recorded (absent when no claim is open)",
                labels=NODE,
            ),
        ]


@functools.cache
def default() -> StatusMetrics:
    """The process-wide collector on the default registry (created once)."""
    return StatusMetrics()
