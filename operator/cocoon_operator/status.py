"""Conditions and status for CocoonNode: builders, Ready's summary and the "write only on change" diff.

The one module that shapes `.status`; the condition types and reasons are the registry's
(`cocoon_operator.conditions`). Conditions follow metav1.Condition; `lastTransitionTime` is
kept while a condition's status stays the same.
"""

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cocoon_operator.conditions import CONDITION_TYPES, REQUIRED_FOR_READY, ConditionType, Reason, allowed

CondStatus = Literal["True", "False", "Unknown"]

# The registry (cocoon_operator.conditions) defines the types and reasons; these names are the short
# spellings the reconcile uses.
READY: Final = ConditionType.READY
CONFIGURED: Final = ConditionType.CONFIGURED
SCHEDULED: Final = ConditionType.SCHEDULED
INFERENCE_READY: Final = ConditionType.INFERENCE_READY
RUNNER_HEALTHY: Final = ConditionType.RUNNER_HEALTHY
WALLET_FUNDED: Final = ConditionType.WALLET_FUNDED
REGISTERED: Final = ConditionType.REGISTERED
REWARDS_HEALTHY: Final = ConditionType.REWARDS_HEALTHY

log = logging.getLogger(__name__)
# Tests set COCOON_STRICT_CONDITIONS=1: a reason its condition type does not list raises there; in
# production it is logged once and written anyway (a status is better than a failed reconcile).
_STRICT = os.environ.get("COCOON_STRICT_CONDITIONS") == "1"
_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class Cond:
    """A condition as the reconcile decides it (times and generation are added by `merge_conditions`)."""

    type: ConditionType
    status: CondStatus
    reason: Reason
    message: str

    def __post_init__(self) -> None:
        if allowed(self.type, self.reason):
            return
        if _STRICT:
            raise ValueError(f"condition {self.type} may not carry reason {self.reason} (see the registry)")
        if (self.type, self.reason) not in _warned:
            _warned.add((self.type, self.reason))
            log.warning("condition %s carries reason %s, not in the registry", self.type, self.reason)

    @classmethod
    def true(cls, type_: ConditionType, reason: Reason, message: str) -> "Cond":
        return cls(type_, "True", reason, message)

    @classmethod
    def false(cls, type_: ConditionType, reason: Reason, message: str) -> "Cond":
        return cls(type_, "False", reason, message)

    @classmethod
    def unknown(cls, type_: ConditionType, reason: Reason, message: str) -> "Cond":
        return cls(type_, "Unknown", reason, message)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> dt.datetime | None:
    """A Kubernetes timestamp ("2026-11-25T23:00:00Z"); None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


SEV_SNP_NOTE = (
    "; note: the official COCOON network accepts TDX workers only today, so an SEV-SNP worker earns only "
    "on a network whose root lists its measurement"
)


def summarize_ready(conditions: Iterable[Cond], *, paused: bool = False, sev_snp: bool = False) -> Cond:
    """Ready = every required condition True and no other condition False.

    The reason is the first blocking condition's reason, so `kubectl get cn` shows what to fix.
    `sev_snp`: the worker asks for an SEV-SNP node; a Ready worker's message says what that means.
    """
    by_type = {c.type: c for c in conditions}
    if paused:
        return Cond.false(
            READY, Reason.PAUSED, "The worker is paused (spec.paused); wallet and ledger are kept"
        )
    for type_ in REQUIRED_FOR_READY:
        cond = by_type.get(type_)
        if cond is None or cond.status != "True":
            if cond is None:
                return Cond.unknown(READY, Reason.RECONCILING, f"{type_} is not yet observed")
            status: CondStatus = "False" if cond.status == "False" else "Unknown"
            return Cond(READY, status, cond.reason, f"{type_}: {cond.message}")
    for cond in by_type.values():
        if cond.type not in REQUIRED_FOR_READY and cond.type != READY and cond.status == "False":
            return Cond.false(READY, cond.reason, f"{cond.type}: {cond.message}")
    message = "The worker is placed and serving"
    return Cond.true(READY, Reason.RECONCILED, message + (SEV_SNP_NOTE if sev_snp else ""))


def merge_conditions(
    old: Sequence[Mapping[str, Any]] | None,
    new: Iterable[Cond],
    generation: int | None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Full conditions list in CONDITION_TYPES order; keeps lastTransitionTime while status is unchanged.

    Conditions of other types that are already present (e.g. written by a newer operator) are kept.
    """
    stamp = now or now_rfc3339()
    old_by_type = {str(c.get("type")): c for c in (old or [])}
    merged: dict[str, dict[str, Any]] = {}
    for cond in new:
        previous = old_by_type.get(cond.type)
        transition = stamp
        if (
            previous is not None
            and previous.get("status") == cond.status
            and previous.get("lastTransitionTime")
        ):
            transition = str(previous["lastTransitionTime"])
        entry: dict[str, Any] = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason,
            "message": cond.message[:32768],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            entry["observedGeneration"] = generation
        merged[cond.type] = entry
    for type_, previous in old_by_type.items():
        merged.setdefault(type_, dict(previous))
    order = {str(t): i for i, t in enumerate(CONDITION_TYPES)}
    return sorted(merged.values(), key=lambda c: (order.get(str(c["type"]), len(order)), str(c["type"])))


def status_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level status keys whose values changed, as a JSON merge patch (None deletes a key).

    Only keys present in `new` are managed; a key set to None in `new` is removed when present.
    An empty result means: write nothing.
    """
    old = old or {}
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if value is None:
            if key in old:
                patch[key] = None
        elif old.get(key) != value:
            patch[key] = value
    return patch


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None
