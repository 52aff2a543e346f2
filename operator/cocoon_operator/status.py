"""Conditions and status for CocoonNode: types, reasons, builders and the "write only on change" diff.

The one module that shapes `.status`. Conditions follow metav1.Condition; `lastTransitionTime` is
kept while a condition's status stays the same.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

CondStatus = Literal["True", "False", "Unknown"]

# Condition types: Ready summarises the detail conditions.
READY: Final = "Ready"
CONFIGURED: Final = "Configured"  # spec valid and its references resolved
SCHEDULED: Final = "Scheduled"  # pod bound to a fitting confidential GPU node
INFERENCE_READY: Final = "InferenceReady"  # Triton serves the model
WALLET_FUNDED: Final = "WalletFunded"  # cocoon wallet above the floor
REGISTERED: Final = "Registered"  # worker contract confirmed on chain
REWARDS_HEALTHY: Final = "RewardsHealthy"  # claims go through

CONDITION_TYPES: Final = (
    READY,
    CONFIGURED,
    SCHEDULED,
    INFERENCE_READY,
    WALLET_FUNDED,
    REGISTERED,
    REWARDS_HEALTHY,
)
# Conditions that must be True for Ready; the others only block Ready when they are False.
REQUIRED_FOR_READY: Final = (CONFIGURED, SCHEDULED, INFERENCE_READY)


class Reason:
    """CamelCase reasons (docs/conditions.md explains each one and what to do)."""

    # Ready / generic
    RECONCILED: Final = "Reconciled"
    PAUSED: Final = "Paused"
    RECONCILING: Final = "Reconciling"
    DELETING: Final = "Deleting"
    # Configured
    RESOLVED: Final = "Resolved"
    INVALID_SPEC: Final = "InvalidSpec"
    INVALID_TON_ADDRESS: Final = "InvalidTonAddress"
    CONFIG_MAP_NOT_FOUND: Final = "ConfigMapNotFound"
    CONFIG_KEY_MISSING: Final = "ConfigKeyMissing"
    INVALID_WALLET_SECRET: Final = "InvalidWalletSecret"  # noqa: S105
    WALLET_SECRET_NOT_OWNED: Final = "WalletSecretNotOwned"  # noqa: S105
    NAME_CONFLICT: Final = "NameConflict"  # a child's name is taken by an object of someone else
    IMAGE_NOT_ALLOWED: Final = "ImageNotAllowed"  # an image outside the admin's image policy
    TREASURY_SECRET_NOT_FOUND: Final = "TreasurySecretNotFound"  # noqa: S105
    API_ERROR: Final = "ApiError"
    # Scheduled
    POD_SCHEDULED: Final = "PodScheduled"
    NO_FITTING_NODE: Final = "NoConfidentialGPUNode"
    INSUFFICIENT_GPU: Final = "InsufficientGPU"
    UNSCHEDULABLE: Final = "Unschedulable"
    POD_PENDING: Final = "PodPending"
    NOT_CREATED: Final = "WorkloadNotCreated"
    # InferenceReady
    POD_READY: Final = "PodReady"
    POD_NOT_READY: Final = "PodNotReady"
    NO_POD: Final = "NoPod"
    TRITON_NOT_READY: Final = "TritonNotReady"
    # Chain / rewards, until their providers report
    NOT_CHECKED: Final = "NotChecked"


@dataclass(frozen=True, slots=True)
class Cond:
    """A condition as the reconcile decides it (times and generation are added by `merge_conditions`)."""

    type: str
    status: CondStatus
    reason: str
    message: str

    @classmethod
    def true(cls, type_: str, reason: str, message: str) -> "Cond":
        return cls(type_, "True", reason, message)

    @classmethod
    def false(cls, type_: str, reason: str, message: str) -> "Cond":
        return cls(type_, "False", reason, message)

    @classmethod
    def unknown(cls, type_: str, reason: str, message: str) -> "Cond":
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
    order = {t: i for i, t in enumerate(CONDITION_TYPES)}
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
