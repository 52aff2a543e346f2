"""Every CocoonNode condition in one place: its type, the step that owns it, what Ready needs of it,
and the reasons it may carry.

Status assembly iterates `REGISTRY` (order, Unknown at first, Ready's summary), `docs/conditions.md`
is generated from it (`python -m cocoon_operator.conditions --write`; a test keeps them equal), and a
condition built with a reason its type does not list is a bug the tests catch (strict mode).

Reasons are one `Reason` enum: a dozen of them (ChainUnavailable, Paused, NoPod, ProviderError, ...)
belong to several types, and one member per value keeps each defined once. Which type may carry which
reason is the registry's business (`ConditionSpec.reasons`).

Adding a condition: a `ConditionType` member, its reasons in `Reason`, a `ConditionSpec` with its
documentation in `conditions/docs.py`, and the step that reports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal


class ConditionType(StrEnum):
    READY = "Ready"
    CONFIGURED = "Configured"  # spec valid and its references resolved
    SCHEDULED = "Scheduled"  # pod bound to a fitting confidential GPU node
    INFERENCE_READY = "InferenceReady"  # Triton serves the model
    RUNNER_HEALTHY = "RunnerHealthy"  # the runner is accepted by the root, synced with TON, funded
    WALLET_FUNDED = "WalletFunded"  # cocoon wallet above the floor
    REGISTERED = "Registered"  # worker contract confirmed on chain
    REWARDS_HEALTHY = "RewardsHealthy"  # claims go through


class Reason(StrEnum):
    """CamelCase reasons, per the Kubernetes API conventions (docs/conditions.md: each and what to do)."""

    # Any condition
    NOT_CHECKED = "NotChecked"  # that step is not enabled, or waits for a valid spec
    PROVIDER_ERROR = "ProviderError"  # a step failed or timed out; the reconcile went on
    PAUSED = "Paused"
    # Ready
    RECONCILED = "Reconciled"
    RECONCILING = "Reconciling"
    # Configured
    RESOLVED = "Resolved"
    INVALID_SPEC = "InvalidSpec"
    INVALID_TON_ADDRESS = "InvalidTonAddress"
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    CONFIG_KEY_MISSING = "ConfigKeyMissing"
    INVALID_WALLET_SECRET = "InvalidWalletSecret"  # noqa: S105
    WALLET_SECRET_NOT_OWNED = "WalletSecretNotOwned"  # noqa: S105
    NAME_CONFLICT = "NameConflict"  # a child's name is taken by an object of someone else
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"  # an image outside the admin's image policy
    TREASURY_SECRET_NOT_FOUND = "TreasurySecretNotFound"  # noqa: S105
    IMAGE_HASH_NOT_ALLOWED = "ImageHashNotAllowed"
    UNKNOWN_CONTRACT_CODE = "UnknownContractCode"
    # Configured, CocoonVM only (reconcile/cocoon_vm.py)
    LAUNCHER_NAMESPACE_NOT_ALLOWED = "LauncherNamespaceNotAllowed"
    LAUNCHER_NOT_CONFIGURED = "LauncherNotConfigured"
    RELEASE_NOT_CONFIGURED = "ReleaseNotConfigured"
    RELEASE_NOT_ALLOWED = "ReleaseNotAllowed"
    HF_TOKEN_SECRET_NOT_FOUND = "HfTokenSecretNotFound"  # noqa: S105 - a reason, not a secret
    HF_TOKEN_SECRET_KEY_MISSING = "HfTokenSecretKeyMissing"  # noqa: S105
    # Scheduled
    POD_SCHEDULED = "PodScheduled"
    NO_FITTING_NODE = "NoConfidentialGPUNode"
    INSUFFICIENT_GPU = "InsufficientGPU"
    UNSCHEDULABLE = "Unschedulable"
    POD_PENDING = "PodPending"
    NOT_CREATED = "WorkloadNotCreated"
    # The worker pod (InferenceReady and RunnerHealthy)
    NO_POD = "NoPod"
    POD_NOT_RUNNING = "PodNotRunning"
    POD_TERMINATING = "PodTerminating"
    CONTAINER_CRASH_LOOPING = "ContainerCrashLooping"
    CONTAINER_WAITING = "ContainerWaiting"
    CONTAINER_TERMINATED = "ContainerTerminated"
    IMAGE_PULL_FAILED = "ImagePullFailed"
    MODEL_FETCH_FAILED = "ModelFetchFailed"
    MODEL_INTEGRITY_FAILED = "ModelIntegrityFailed"  # content does not match modelSha256
    INIT_CONTAINER_FAILED = "InitContainerFailed"
    PROBE_SKIPPED = "ProbeSkipped"
    RESPONSE_TOO_LARGE = "ResponseTooLarge"  # the pod answered more than the operator reads
    # A CocoonVM's launcher pod (InferenceReady and RunnerHealthy; steps/health/vm.py)
    HOST_PREREQUISITES_MISSING = "HostPrerequisitesMissing"
    RELEASE_INTEGRITY_FAILED = "ReleaseIntegrityFailed"
    RELEASE_FETCH_FAILED = "ReleaseFetchFailed"
    # InferenceReady
    POD_READY = "PodReady"  # without the health step: the pod's Ready condition
    POD_NOT_READY = "PodNotReady"
    SERVING = "Serving"
    TRITON_STARTING = "TritonStarting"
    TRITON_UNREACHABLE = "TritonUnreachable"
    TRITON_NOT_LIVE = "TritonNotLive"
    TRITON_NOT_READY = "TritonNotReady"
    MODEL_UNAVAILABLE = "ModelUnavailable"
    MODEL_LOADING = "ModelLoading"
    MODEL_NOT_FOUND = "ModelNotFound"
    NO_MODELS = "NoModelsLoaded"
    VM_SERVING = "VmServing"  # CocoonVM: the launcher runs and the runner in the VM answers
    VM_STARTING = "VmStarting"
    # RunnerHealthy
    HEALTHY = "Healthy"
    RUNNER_UNREACHABLE = "RunnerUnreachable"
    RUNNER_STARTING = "RunnerStarting"
    RUNNER_BAD_RESPONSE = "RunnerBadResponse"
    IMAGE_NOT_ACCEPTED = "ImageNotAccepted"
    MODEL_NOT_ACCEPTED = "ModelNotAccepted"
    TON_OUT_OF_SYNC = "TonOutOfSync"
    TON_SYNC_LATE = "TonSyncLate"
    WALLET_BALANCE_TOO_LOW = "WalletBalanceTooLow"
    WALLET_BALANCE_LOW = "WalletBalanceLow"
    NO_PROXY = "NoProxyConnection"
    REGISTERING = "Registering"
    # The chain: any chain condition
    CHAIN_UNAVAILABLE = "ChainUnavailable"
    CHAIN_DISAGREEMENT = "ChainDisagreement"
    MONEY_RECORD_CONFLICT = "MoneyRecordConflict"
    # WalletFunded (the funding step's outcomes, money.funding.FundingStatus, are members too)
    WALLET_FUNDED = "WalletFunded"
    TOP_UP_SENT = "TopUpSent"
    TOP_UP_PENDING = "TopUpPending"
    TOP_UP_SETTLING = "TopUpSettling"
    TOP_UP_CONFIRMED = "TopUpConfirmed"
    TOP_UP_UNRESOLVED = "TopUpUnresolved"
    TOP_UP_TOO_SOON = "TopUpIntervalNotElapsed"
    TREASURY_POLICY = "TreasuryPolicy"
    INVALID_TREASURY_POLICY = "InvalidTreasuryPolicy"
    TREASURY_INSUFFICIENT = "TreasuryInsufficient"
    TREASURY_NOT_DEPLOYED = "TreasuryNotDeployed"
    INVALID_TREASURY_SECRET = "InvalidTreasurySecret"  # noqa: S105
    NO_TREASURY = "NoTreasury"
    WALLET_ADDRESS_MISMATCH = "WalletAddressMismatch"
    PREFLIGHT_FAILED = "PreflightFailed"
    WAITING_FOR_PLACEMENT = "WaitingForPlacement"
    # Registered (the root pre-flight's and the worker contract check's outcomes are members too)
    REGISTERED = "Registered"
    MODEL_NOT_ALLOWED = "ModelNotAllowed"
    NETWORK_MISMATCH = "NetworkMismatch"
    NO_PROXIES = "NoProxies"
    ROOT_UNAVAILABLE = "RootUnavailable"
    WAITING_FOR_WORKER = "WaitingForWorker"
    NO_PROXY_CONNECTED = "NoProxyConnected"
    WAITING_FOR_CURRENT_PARAMS = "WaitingForCurrentParams"  # contracts only of an older params version
    WORKER_CONTRACT_NOT_DEPLOYED = "WorkerContractNotDeployed"
    WORKER_CONTRACT_ADDRESS_MISMATCH = "WorkerContractAddressMismatch"
    WORKER_CONTRACT_OWNER_MISMATCH = "WorkerContractOwnerMismatch"
    WORKER_CONTRACT_PROXY_MISMATCH = "WorkerContractProxyMismatch"
    WORKER_CONTRACT_CLOSED = "WorkerContractClosed"
    PROXY_CONTRACT_UNREADABLE = "ProxyContractUnreadable"
    # RewardsHealthy
    CLAIMS_HEALTHY = "ClaimsHealthy"
    CLAIM_IN_FLIGHT = "ClaimInFlight"
    CLAIM_TIMED_OUT = "ClaimTimedOut"
    CLAIM_PAYOUT_MISSING = "ClaimPayoutMissing"
    RUNNER_CLAIM_STUCK = "RunnerClaimStuck"
    CLAIMS_STALLED = "ClaimsStalled"


Step = Literal["reconcile", "health", "chain", "rewards"]


@dataclass(frozen=True)
class ConditionSpec:
    """One condition type: who reports it, what Ready needs of it, which reasons it may carry."""

    type: ConditionType
    step: Step
    required_for_ready: bool  # True: Ready needs it True; False: it blocks Ready only when False
    true_means: str
    reasons: frozenset[Reason]


_ANY: Final = frozenset({Reason.NOT_CHECKED, Reason.PROVIDER_ERROR})
_POD: Final = frozenset(
    {
        Reason.NO_POD,
        Reason.PAUSED,
        Reason.POD_NOT_RUNNING,
        Reason.POD_TERMINATING,
        Reason.CONTAINER_CRASH_LOOPING,
        Reason.CONTAINER_WAITING,
        Reason.CONTAINER_TERMINATED,
        Reason.IMAGE_PULL_FAILED,
        Reason.MODEL_FETCH_FAILED,
        Reason.MODEL_INTEGRITY_FAILED,
        Reason.INIT_CONTAINER_FAILED,
        Reason.PROBE_SKIPPED,
        Reason.RESPONSE_TOO_LARGE,
        Reason.HOST_PREREQUISITES_MISSING,
        Reason.RELEASE_INTEGRITY_FAILED,
        Reason.RELEASE_FETCH_FAILED,
    }
)
_CHAIN: Final = frozenset({Reason.CHAIN_UNAVAILABLE, Reason.CHAIN_DISAGREEMENT, Reason.MONEY_RECORD_CONFLICT})


def _reasons(*members: Reason, extra: Iterable[Reason] = ()) -> frozenset[Reason]:
    return frozenset(members) | frozenset(extra) | _ANY


REGISTRY: Final[tuple[ConditionSpec, ...]] = (
    ConditionSpec(
        ConditionType.READY,
        "reconcile",
        False,
        "summary: `Configured`, `Scheduled` and `InferenceReady` are True and no other condition is False",
        # Ready also carries the reason of the first condition that blocks it (summarize_ready).
        frozenset(Reason),
    ),
    ConditionSpec(
        ConditionType.CONFIGURED,
        "reconcile",
        True,
        "the spec is valid and its ConfigMap and Secrets exist and are usable",
        _reasons(
            Reason.RESOLVED,
            Reason.INVALID_SPEC,
            Reason.INVALID_TON_ADDRESS,
            Reason.CONFIG_MAP_NOT_FOUND,
            Reason.CONFIG_KEY_MISSING,
            Reason.INVALID_WALLET_SECRET,
            Reason.WALLET_SECRET_NOT_OWNED,
            Reason.NAME_CONFLICT,
            Reason.IMAGE_NOT_ALLOWED,
            Reason.TREASURY_SECRET_NOT_FOUND,
            Reason.IMAGE_HASH_NOT_ALLOWED,
            Reason.UNKNOWN_CONTRACT_CODE,
            Reason.LAUNCHER_NAMESPACE_NOT_ALLOWED,
            Reason.LAUNCHER_NOT_CONFIGURED,
            Reason.RELEASE_NOT_CONFIGURED,
            Reason.RELEASE_NOT_ALLOWED,
            Reason.HF_TOKEN_SECRET_NOT_FOUND,
            Reason.HF_TOKEN_SECRET_KEY_MISSING,
        ),
    ),
    ConditionSpec(
        ConditionType.SCHEDULED,
        "reconcile",
        True,
        "the worker pod is bound to a node that fits `spec.placement` (always a confidential node)",
        _reasons(
            Reason.POD_SCHEDULED,
            Reason.NO_FITTING_NODE,
            Reason.INSUFFICIENT_GPU,
            Reason.UNSCHEDULABLE,
            Reason.POD_PENDING,
            Reason.NOT_CREATED,
            Reason.PAUSED,
        ),
    ),
    ConditionSpec(
        ConditionType.INFERENCE_READY,
        "health",
        True,
        "Triton serves the model (probed by the health step; without it, the pod's Ready condition); "
        "for a CocoonVM, the launcher runs and the runner in the VM answers",
        _reasons(
            Reason.POD_READY,
            Reason.POD_NOT_READY,
            Reason.SERVING,
            Reason.TRITON_STARTING,
            Reason.TRITON_UNREACHABLE,
            Reason.TRITON_NOT_LIVE,
            Reason.TRITON_NOT_READY,
            Reason.MODEL_UNAVAILABLE,
            Reason.MODEL_LOADING,
            Reason.MODEL_NOT_FOUND,
            Reason.NO_MODELS,
            Reason.VM_SERVING,
            Reason.VM_STARTING,
            extra=_POD,
        ),
    ),
    ConditionSpec(
        ConditionType.RUNNER_HEALTHY,
        "health",
        False,
        "the worker runner answers, the root lists its image and model, TON is synced and the wallet can pay",
        _reasons(
            Reason.HEALTHY,
            Reason.RUNNER_UNREACHABLE,
            Reason.RUNNER_STARTING,
            Reason.RUNNER_BAD_RESPONSE,
            Reason.IMAGE_NOT_ACCEPTED,
            Reason.MODEL_NOT_ACCEPTED,
            Reason.TON_OUT_OF_SYNC,
            Reason.TON_SYNC_LATE,
            Reason.WALLET_BALANCE_TOO_LOW,
            Reason.WALLET_BALANCE_LOW,
            Reason.NO_PROXY,
            Reason.REGISTERING,
            Reason.VM_STARTING,
            extra=_POD,
        ),
    ),
    ConditionSpec(
        ConditionType.WALLET_FUNDED,
        "chain",
        False,
        "the cocoon wallet is at or above `spec.wallet.floor`, or a top-up is settling",
        _reasons(
            Reason.WALLET_FUNDED,
            Reason.TOP_UP_SENT,
            Reason.TOP_UP_PENDING,
            Reason.TOP_UP_SETTLING,
            Reason.TOP_UP_CONFIRMED,
            Reason.TOP_UP_UNRESOLVED,
            Reason.TOP_UP_TOO_SOON,
            Reason.TREASURY_POLICY,
            Reason.INVALID_TREASURY_POLICY,
            Reason.TREASURY_INSUFFICIENT,
            Reason.TREASURY_NOT_DEPLOYED,
            Reason.INVALID_TREASURY_SECRET,
            Reason.NO_TREASURY,
            Reason.WALLET_ADDRESS_MISMATCH,
            Reason.PREFLIGHT_FAILED,
            Reason.WAITING_FOR_PLACEMENT,
            extra=_CHAIN,
        ),
    ),
    ConditionSpec(
        ConditionType.REGISTERED,
        "chain",
        False,
        "a worker contract of the root's current params version is confirmed on chain",
        _reasons(
            Reason.REGISTERED,
            Reason.MODEL_NOT_ALLOWED,
            Reason.NETWORK_MISMATCH,
            Reason.NO_PROXIES,
            Reason.ROOT_UNAVAILABLE,
            Reason.WAITING_FOR_WORKER,
            Reason.RUNNER_UNREACHABLE,
            Reason.NO_PROXY_CONNECTED,
            Reason.WAITING_FOR_CURRENT_PARAMS,
            Reason.WORKER_CONTRACT_NOT_DEPLOYED,
            Reason.WORKER_CONTRACT_ADDRESS_MISMATCH,
            Reason.WORKER_CONTRACT_OWNER_MISMATCH,
            Reason.WORKER_CONTRACT_PROXY_MISMATCH,
            Reason.WORKER_CONTRACT_CLOSED,
            Reason.PROXY_CONTRACT_UNREADABLE,
            Reason.CHAIN_UNAVAILABLE,
        ),
    ),
    ConditionSpec(
        ConditionType.REWARDS_HEALTHY,
        "rewards",
        False,
        "claims go through",
        _reasons(
            Reason.CLAIMS_HEALTHY,
            Reason.CLAIM_IN_FLIGHT,
            Reason.CLAIM_TIMED_OUT,
            Reason.CLAIM_PAYOUT_MISSING,
            Reason.RUNNER_CLAIM_STUCK,
            Reason.CLAIMS_STALLED,
            extra=_CHAIN,
        ),
    ),
)

BY_TYPE: Final = {spec.type: spec for spec in REGISTRY}
CONDITION_TYPES: Final = tuple(spec.type for spec in REGISTRY)
REQUIRED_FOR_READY: Final = tuple(spec.type for spec in REGISTRY if spec.required_for_ready)


def allowed(type_: str, reason: str) -> bool:
    """Whether `type_` may carry `reason` (a type this operator does not know: anything)."""
    spec = BY_TYPE.get(type_)  # type: ignore[call-overload]
    return spec is None or reason in spec.reasons
