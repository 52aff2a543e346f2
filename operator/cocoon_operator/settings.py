"""Operator-wide settings from the environment (prefix COCOON_), validated once at start-up.

Per-cluster facts (label keys, GPU resource name, where the operator runs) live here, not in the
CocoonNode spec. So does the liteserver trust level: it decides how much the operator trusts its
liteservers' answers, a property of the operator's own chain reads that an object author should not be
able to weaken for everyone sharing the network.
"""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cocoon_operator import __version__

# A node counts as this TEE kind when it carries any of these labels (`key=value`): NFD for model B
# (the node is a CVM), GKE's node-pool label, and kata-deploy's NodeFeatureRules for model A.
DEFAULT_TDX_LABELS = (
    "feature.node.kubernetes.io/cpu-security.tdx.protected=true",
    "cloud.google.com/gke-confidential-nodes-instance-type=TDX",
    "intel.feature.node.kubernetes.io/tdx=true",
)
DEFAULT_SEV_SNP_LABELS = (
    "feature.node.kubernetes.io/cpu-security.sev.snp.enabled=true",
    "cloud.google.com/gke-confidential-nodes-instance-type=SEV_SNP",
    "amd.feature.node.kubernetes.io/snp=true",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COCOON_", frozen=True, extra="ignore")

    # Reconcile cadence and bounds.
    resync_seconds: float = Field(default=60.0, gt=0, description="Timer interval of the level-based resync")
    finalize_timeout_seconds: float = Field(default=120.0, gt=0, description="Longest time deletion waits")
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    max_concurrent_reconciles: int = Field(
        default=64, ge=1, le=512, description="Workers of the reconcile queue: CocoonNodes reconciled at once"
    )

    # Node label conventions (keep configurable: clusters differ).
    tdx_labels: tuple[str, ...] = DEFAULT_TDX_LABELS
    sev_snp_labels: tuple[str, ...] = DEFAULT_SEV_SNP_LABELS
    cc_ready_label: str = "nvidia.com/cc.ready.state=true"
    gpu_product_label: str = "nvidia.com/gpu.product"
    gpu_resource: str = "nvidia.com/gpu"
    gpu_taint_key: str = "nvidia.com/gpu"

    # Where the operator runs: the NetworkPolicy lets only these pods reach the runner's port, and the
    # leader election Lease lives there.
    operator_namespace: str = "cocoon-system"
    # Leader election (leader.py): only the holder of this Lease reconciles; the others stand by.
    leader_election: bool = True
    lease_name: str = "cocoon-operator"
    lease_namespace: str = ""  # empty: operator_namespace
    lease_seconds: float = Field(default=15.0, gt=0)
    lease_renew_deadline_seconds: float = Field(default=10.0, gt=0)
    lease_retry_seconds: float = Field(default=2.0, gt=0)
    # This process's name in the Lease (the chart sets the pod name; default: host name and pid).
    pod_name: str = ""
    operator_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "cocoon-operator"}
    )

    # Worker pod shape.
    runner_http_port: int = 12000
    # The worker's RA-TLS router (SOCKS5) the runner dials its proxies through (connect_to_proxy_via);
    # 8116 in the official worker image.
    router_port: int = 8116
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    # Triton's OpenAI-compatible frontend, where the runner forwards requests (forward_requests_to).
    triton_openai_port: int = 9000
    triton_exit_timeout_seconds: int = Field(default=30, ge=1)
    prestop_sleep_seconds: int = Field(default=10, ge=0)
    unload_allowance_seconds: int = Field(default=20, ge=0)
    runner_max_active_requests: int = Field(default=60, ge=0)
    run_as_user: int = 1000
    # Image of the `render-config` init container, the only container that mounts the wallet key: an
    # image the cluster admin chose (the chart passes the operator's own image), never one a CocoonNode
    # author names. It needs /bin/sh, cat and sed.
    render_image: str = Field(default=f"cocoon-operator:{__version__}", min_length=1)

    # Image policy (issue 16): the runner gets the node wallet key (through its rendered config), so only
    # images the cluster admin lists may run as a worker. The chart's ValidatingAdmissionPolicy refuses
    # others at admission; the operator checks again (a policy tightened later, or an install without
    # it) and stops the worker (Configured=False, ImageNotAllowed). An image is allowed when it starts
    # with one of the prefixes (end them with "/", ":" or "@") or ends with "@" + one of the digests.
    image_policy: bool = False
    worker_image_prefixes: tuple[str, ...] = ()
    worker_image_digests: tuple[str, ...] = ()
    inference_image_prefixes: tuple[str, ...] = ()
    inference_image_digests: tuple[str, ...] = ()

    # The runner's OpenAI upstream in a TritonPod: a thin adapter container (cocoon_operator.openai_adapter,
    # from the operator's own image) on 127.0.0.1:triton_openai_port that answers for the model's Hugging
    # Face name and calls Triton's KServe v2 API (docs/worker-pod.md).
    openai_adapter_image: str = "cocoon-operator"

    # CocoonVM: the official worker VM in a launcher pod (docs/cocoon-vm.md). Launchers are privileged:
    # they run only in these namespaces (the chart's launcher.namespaces), under this ServiceAccount.
    launcher_namespaces: tuple[str, ...] = ()
    launcher_service_account: str = "cocoon-launcher"
    # Image of the launcher pod (python3, QEMU with TDX support, curl, sha256sum, tar, xz); required for
    # CocoonVM, set by the cluster admin (the chart's launcher.image), never by an object's author.
    launcher_image: str = ""
    # The default worker release (the chart's launcher.release) and the other releases a CocoonNode may
    # name (their SHA-256s): the release's launcher runs privileged, so its author must be the admin's.
    vm_release_url: str = ""
    vm_release_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    vm_allowed_release_sha256s: tuple[str, ...] = ()
    # The VFIO GPU resource of the GPU Operator's sandbox device plugin (its env var carries the PCI address).
    vm_gpu_resource: str = "nvidia.com/GH100_H100_SXM5_80GB"
    # A bare-metal TDX host (NFD on the host; kata-deploy's rule), and a host whose GPUs are bound to VFIO.
    tdx_host_labels: tuple[str, ...] = (
        "feature.node.kubernetes.io/cpu-security.tdx.enabled=true",
        "intel.feature.node.kubernetes.io/tdx=true",
    )
    vfio_labels: tuple[str, ...] = ("nvidia.com/gpu.workload.config=vm-passthrough",)
    # Host directories: verified releases (shared by the workers of a host) and per-worker state (the
    # VM's persistent disk).
    vm_release_cache_dir: str = "/var/lib/cocoon/releases"
    vm_state_dir: str = "/var/lib/cocoon/vm"
    # The launcher checks that a seal-server runs on the host (production workers need it).
    vm_check_seal_server: bool = True

    # Health: probe Triton and the runner on each worker's pod IP. Turn off only where worker pods do
    # not really run (KWOK-only test clusters); InferenceReady then follows the pod's Ready condition.
    health_probes: bool = True

    # Chain access (used by the chain layer).
    ton_trust_level: int = Field(default=2, ge=0, le=2)
    # One block follower per network: unchanged accounts are not read again (issue 20). Off, every
    # reconcile reads its accounts (the polling the follower replaced: ~7 queries per reconcile).
    ton_follow_blocks: bool = True


@lru_cache(maxsize=1)
def load() -> Settings:
    return Settings()


def parse_labels(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`("k=v", ...)` → `(("k", "v"), ...)`; a bare key means the value "true"."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        pairs.append((key, value if sep else "true"))
    return tuple(pairs)
