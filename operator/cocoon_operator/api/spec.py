"""Typed, frozen view of a CocoonNode spec; follows crds/cocoonnodes.yaml (a test keeps both in step).

Amounts become nanoTON ints, durations whole seconds, the model string a `ModelRef`. Serialising
(`by_alias=True`) gives back the CRD's spelling.
"""

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from cocoon_operator.api.records import CamelModel
from cocoon_operator.api.units import (
    format_duration,
    nano_to_ton,
    parse_duration,
    parse_fraction,
    ton_to_nano,
)

DEFAULT_TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-trtllm-python-py3"

_MODEL_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._/-]{0,139})@(?P<commit>[0-9a-f]{40}):(?P<verity>[0-9a-f]{64})$"
)
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_VERITY_RE = re.compile(r"[0-9a-f]{64}")
ADDRESS_PATTERN = r"^([A-Za-z0-9_-]{48}|[A-Za-z0-9+/]{48}|(0|-1):[0-9a-fA-F]{64})$"
# The hard limit of a worker wallet's floor and target (the CRD refuses more at admission): whatever a
# CocoonNode author writes, one top-up never brings a cocoon wallet above it.
MAX_WALLET_TON = 100
MAX_WALLET_NANO = MAX_WALLET_TON * 10**9
# `scheme://user[:password]@host`: credentials in a URL (the CRD refuses them at admission).
_URL_USERINFO = re.compile(r"^https?://[^/?#]*@")


def _ton(value: Any) -> Any:
    return ton_to_nano(value) if isinstance(value, str) else value


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _fraction(value: Any) -> Any:
    return parse_fraction(value) if isinstance(value, str) else value


# nanoTON in Python, a decimal TON string in the CRD.
NanoTon = Annotated[int, BeforeValidator(_ton), PlainSerializer(nano_to_ton, return_type=str), Field(ge=0)]
# Whole seconds in Python, a Go-style duration string in the CRD.
Seconds = Annotated[int, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
Fraction = Annotated[Decimal, BeforeValidator(_fraction), PlainSerializer(str, return_type=str)]


class ModelRef(CamelModel):
    """COCOON model string `name@commit:verity_hash` (cocoon-protocol.md §6.1). The root lists SHA-256
    of the full string; proxies and clients route by the name."""

    name: str
    commit: str
    verity_hash: str

    @classmethod
    def parse(cls, text: str, *, field: str = "model") -> "ModelRef":
        """`name@<40 hex commit>:<64 hex verity>`; a ValueError names `field` and the bad part."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"{field}: empty model string (expected 'name@commit:verity')")
        if text != text.strip() or any(ch.isspace() for ch in text):
            raise ValueError(f"{field}: model string must not contain whitespace")
        name, at, rest = text.rpartition("@")
        if not at:
            raise ValueError(f"{field}: missing '@' (expected 'name@commit:verity')")
        if not name:
            raise ValueError(f"{field}: empty model name before '@'")
        commit, colon, verity = rest.partition(":")
        if not colon:
            raise ValueError(f"{field}: missing ':' between commit and verity hash")
        if not _COMMIT_RE.fullmatch(commit):
            raise ValueError(f"{field}: commit must be 40 lower-case hex digits, got {commit!r}")
        if not _VERITY_RE.fullmatch(verity):
            raise ValueError(f"{field}: verity hash must be 64 lower-case hex digits, got {verity!r}")
        if "@" in name:
            raise ValueError(f"{field}: model name must not contain '@'")
        if _MODEL_RE.match(text) is None:
            raise ValueError(
                f"{field}: {text!r} is not a COCOON model string name@<40 hex commit>:<64 hex verity hash>"
            )
        return cls(name=name, commit=commit, verity_hash=verity)

    @property
    def full(self) -> str:
        return f"{self.name}@{self.commit}:{self.verity_hash}"

    def __str__(self) -> str:
        return self.full


def _model(value: Any) -> Any:
    return ModelRef.parse(value) if isinstance(value, str) else value


ModelString = Annotated[ModelRef, BeforeValidator(_model), PlainSerializer(str, return_type=str)]
Address = Annotated[str, Field(pattern=ADDRESS_PATTERN, max_length=67)]


class NameRef(CamelModel):
    name: str = Field(min_length=1, max_length=253)


class ConfigMapKeyRef(CamelModel):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(default="global.config.json", min_length=1, max_length=253)


class Network(CamelModel):
    global_config_ref: ConfigMapKeyRef
    root_contract_address: Address
    testnet: bool = False
    trusted_code_hashes: tuple[Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")], ...] = Field(
        default=(), max_length=8
    )


class Wallet(CamelModel):
    secret_ref: NameRef
    floor: NanoTon = Field(default=ton_to_nano("3"), le=MAX_WALLET_NANO)
    target: NanoTon = Field(default=ton_to_nano("5"), le=MAX_WALLET_NANO)


class Funding(CamelModel):
    treasury_secret_ref: NameRef | None = None


class Rewards(CamelModel):
    min_claim: NanoTon = ton_to_nano("0.1")
    max_fee_fraction: Fraction = Decimal("0.05")
    check_interval: Seconds = 300
    stall_after: Seconds | None = None
    claim_on_delete: bool = True
    sweep_above: NanoTon | None = None

    @property
    def stall_seconds(self) -> int:
        """How long claimable earnings may wait: stallAfter, else 1 h or three check intervals."""
        if self.stall_after is not None:
            return self.stall_after
        return max(3600, 3 * self.check_interval)


class Toleration(CamelModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


TeeKind = Literal["TDX", "SEV-SNP", "Any"]


# An NVIDIA extended resource (`nvidia.com/gpu`, `nvidia.com/pgpu`, `nvidia.com/GH100_H100_SXM5_80GB`):
# only NVIDIA's namespace, so an object author cannot ask a launcher for other devices.
GPU_RESOURCE_PATTERN = r"^nvidia\.com/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"


class Placement(CamelModel):
    tee: TeeKind = "TDX"  # the official network accepts TDX workers only
    gpu_products: tuple[str, ...] = ()
    gpu_count: int = Field(default=1, ge=1, le=8)
    gpu_resource: str | None = Field(default=None, pattern=GPU_RESOURCE_PATTERN, max_length=253)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    runtime_class_name: str | None = None


class PvcSource(CamelModel):
    claim_name: str = Field(min_length=1)
    sub_path: str | None = None


def _no_credentials(value: Any) -> Any:
    if isinstance(value, str) and _URL_USERINFO.match(value):
        # Never echo the value: it holds a password.
        raise ValueError("must not carry credentials (user:password@host); keep them in a Secret")
    return value


class ModelSource(CamelModel):
    pvc: PvcSource | None = None
    url: Annotated[str, BeforeValidator(_no_credentials)] | None = Field(default=None, pattern=r"^https?://")


Quantity = int | str


class Resources(CamelModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class Inference(CamelModel):
    image: str = Field(default=DEFAULT_TRITON_IMAGE, min_length=1)
    model_source: ModelSource | None = None
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    resources: Resources = Field(default_factory=Resources)
    startup_timeout: Seconds = 1200


class Worker(CamelModel):
    image: str | None = Field(default=None, min_length=1)  # required for TritonPod (the runner image)
    mode: Literal["Production", "Test"] = "Production"


RuntimeKind = Literal["TritonPod", "CocoonVM"]
TRITON_POD: RuntimeKind = "TritonPod"
COCOON_VM: RuntimeKind = "CocoonVM"


class Release(CamelModel):
    """The official COCOON worker release archive (`cocoon-worker-release-*.tar.xz`) and its SHA-256."""

    url: str = Field(pattern=r"^https?://", max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SecretKeyRef(CamelModel):
    name: str = Field(min_length=1, max_length=253)
    key: str = Field(default="token", min_length=1, max_length=253)


class VirtualMachine(CamelModel):
    """The official COCOON worker VM, booted by the official `cocoon-launch` in a launcher pod."""

    release: Release | None = None  # None: the operator's default release (chart value)
    instance: int = Field(default=0, ge=0, le=63)
    hf_token_secret_ref: SecretKeyRef | None = None
    resources: Resources = Field(default_factory=Resources)
    startup_timeout: Seconds = 7200


class Runtime(CamelModel):
    kind: RuntimeKind = TRITON_POD
    vm: VirtualMachine | None = None


class CocoonNodeSpec(CamelModel):
    model: ModelString
    owner_address: Address
    network: Network
    worker_coefficient: int = Field(default=1000, ge=0, le=4000)
    wallet: Wallet
    funding: Funding = Field(default_factory=Funding)
    rewards: Rewards = Field(default_factory=Rewards)
    placement: Placement = Field(default_factory=Placement)
    inference: Inference = Field(default_factory=Inference)
    worker: Worker
    image_hash: str | None = Field(default=None, pattern=r"^([A-Za-z0-9+/]{43}=|[0-9a-fA-F]{64})$")
    paused: bool = False
    runtime: Runtime = Field(default_factory=Runtime)

    @property
    def is_vm(self) -> bool:
        return self.runtime.kind == COCOON_VM

    @model_validator(mode="after")
    def _runtime_rules(self) -> "CocoonNodeSpec":
        """The CRD's CEL rules on spec.runtime, again (an object stored before them must not slip by)."""
        for problem in runtime_problems(self):
            raise ValueError(problem)
        return self


def runtime_problems(spec: CocoonNodeSpec) -> list[str]:
    """What the CRD's CEL rules about the runtime refuse, in their words (empty: fine)."""
    out = []
    placement = spec.placement
    if spec.is_vm:
        if spec.runtime.vm is None:
            out.append("spec.runtime.vm is required with kind CocoonVM")
        if placement.tee != "TDX":
            out.append(
                "spec.placement.tee must be TDX with runtime kind CocoonVM (the worker VM is a TDX guest)"
            )
        if placement.gpu_count != 1:
            out.append("spec.placement.gpuCount must be 1 with runtime kind CocoonVM (one GPU per worker VM)")
        if placement.gpu_products:
            out.append(
                "spec.placement.gpuProducts cannot be used with runtime kind CocoonVM: VFIO hosts carry no "
                "GPU Feature Discovery labels; choose the GPU by spec.placement.gpuResource"
            )
        if placement.runtime_class_name:
            out.append("spec.placement.runtimeClassName cannot be used with runtime kind CocoonVM")
    else:
        if spec.runtime.vm is not None:
            out.append("spec.runtime.vm is only allowed with kind CocoonVM")
        if spec.worker.image is None:
            out.append("spec.worker.image is required with runtime kind TritonPod")
    if placement.runtime_class_name and placement.gpu_products:
        out.append(
            "spec.placement.gpuProducts cannot be used with spec.placement.runtimeClassName: Kata nodes "
            "carry no GPU Feature Discovery labels; choose the GPU by spec.placement.gpuResource"
        )
    return out


def parse_spec(spec: Any) -> CocoonNodeSpec:
    """Validate a raw spec mapping (raises pydantic.ValidationError naming the field)."""
    return CocoonNodeSpec.model_validate(spec)
