"""Condition type and reasons the health layer adds (docs/health.md explains each and what to do).

`InferenceReady` and a few reasons already exist in `cocoon_operator.status`; they are reused, not
redefined. Everything here is CamelCase, per the Kubernetes API conventions.
"""

from typing import Final

from cocoon_operator.status import Reason

RUNNER_HEALTHY: Final = "RunnerHealthy"  # the runner is accepted by the root, synced with TON, funded


class HealthReason:
    # Pod and containers (both conditions)
    NO_POD: Final = Reason.NO_POD
    PAUSED: Final = Reason.PAUSED
    POD_NOT_RUNNING: Final = "PodNotRunning"
    POD_TERMINATING: Final = "PodTerminating"
    CONTAINER_CRASH_LOOPING: Final = "ContainerCrashLooping"
    CONTAINER_WAITING: Final = "ContainerWaiting"
    CONTAINER_TERMINATED: Final = "ContainerTerminated"
    IMAGE_PULL_FAILED: Final = "ImagePullFailed"
    MODEL_FETCH_FAILED: Final = "ModelFetchFailed"
    MODEL_INTEGRITY_FAILED: Final = "ModelIntegrityFailed"  # content does not match modelSha256
    INIT_CONTAINER_FAILED: Final = "InitContainerFailed"
    PROBE_SKIPPED: Final = "ProbeSkipped"
    RESPONSE_TOO_LARGE: Final = "ResponseTooLarge"  # the pod answered more than the operator reads
    # InferenceReady
    SERVING: Final = "Serving"
    TRITON_STARTING: Final = "TritonStarting"
    TRITON_UNREACHABLE: Final = "TritonUnreachable"
    TRITON_NOT_LIVE: Final = "TritonNotLive"
    TRITON_NOT_READY: Final = Reason.TRITON_NOT_READY
    MODEL_UNAVAILABLE: Final = "ModelUnavailable"
    MODEL_LOADING: Final = "ModelLoading"
    MODEL_NOT_FOUND: Final = "ModelNotFound"
    NO_MODELS: Final = "NoModelsLoaded"
    # RunnerHealthy
    HEALTHY: Final = "Healthy"
    RUNNER_UNREACHABLE: Final = "RunnerUnreachable"
    RUNNER_STARTING: Final = "RunnerStarting"
    RUNNER_BAD_RESPONSE: Final = "RunnerBadResponse"
    IMAGE_NOT_ACCEPTED: Final = "ImageNotAccepted"
    MODEL_NOT_ACCEPTED: Final = "ModelNotAccepted"
    TON_OUT_OF_SYNC: Final = "TonOutOfSync"
    TON_SYNC_LATE: Final = "TonSyncLate"
    WALLET_BALANCE_TOO_LOW: Final = "WalletBalanceTooLow"
    WALLET_BALANCE_LOW: Final = "WalletBalanceLow"
    NO_PROXY: Final = "NoProxyConnection"
    REGISTERING: Final = "Registering"
