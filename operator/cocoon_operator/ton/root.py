"""The COCOON root contract as the operator reads it, and the pre-flight checks before a worker starts.

Like the official runner (cocoon-protocol.md §2.4, §6), the root is read by parsing its account data
cell, not through get-methods: the registered proxies and code cells have no getter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.client import ChainClient, ChainError
from cocoon_operator.ton.codes import OFFICIAL_CODE_HASHES, ContractName
from cocoon_operator.ton.model import model_hash
from cocoon_operator.ton.storage import Params, ParamsView, RootStorage


class RootUnavailable(ChainError):
    """The root contract is missing, not active, or its data does not parse."""


@dataclass(frozen=True)
class RegisteredProxy:
    seqno: int
    address: str  # "ip:port" or "ipW:portW ipC:portC" as stored
    worker_endpoint: str
    client_endpoint: str


@dataclass(frozen=True)
class RootConfig(ParamsView):
    """Everything the operator needs from the root (§6.1), with the params of the current version
    (amounts in nanoTON per adjusted token)."""

    address: str  # raw form
    owner_address: str  # raw form
    version: int
    params: Params
    proxy_hashes: frozenset[bytes]
    worker_hashes: frozenset[bytes]
    model_hashes: frozenset[bytes]
    registered_proxies: tuple[RegisteredProxy, ...]
    last_proxy_seqno: int
    balance: int = 0
    code_hash: bytes | None = None  # the root's own code cell hash (None: not read)

    def has_model(self, full_model: str) -> bool:
        """The root lists SHA-256 of the full `name@commit:verity` string."""
        return model_hash(full_model) in self.model_hashes

    def has_worker_hash(self, image_hash: bytes) -> bool:
        return bytes(image_hash) in self.worker_hashes

    def has_proxy_hash(self, image_hash: bytes) -> bool:
        return bytes(image_hash) in self.proxy_hashes


def parse_root(
    address: Address | str, data: Cell, *, balance: int = 0, code_hash: bytes | None = None
) -> RootConfig:
    """Parse the root's account data cell bit-exactly (the codec rejects trailing data)."""
    raw = raw_address(address)
    try:
        storage = RootStorage.from_cell(data)
    except (LayoutError, ValueError) as exc:
        raise RootUnavailable(f"Root contract {raw} data does not match the COCOON layout: {exc}") from exc
    proxies = tuple(
        RegisteredProxy(
            seqno=seqno,
            address=desc.address,
            worker_endpoint=desc.worker_endpoint,
            client_endpoint=desc.client_endpoint,
        )
        for seqno, desc in sorted(storage.registered_proxies.items())
        if desc.type == 0  # the runner skips type 1 (§6.1)
    )
    return RootConfig(
        address=raw,
        owner_address=raw_address(storage.owner_address),
        version=storage.version,
        params=storage.params,
        proxy_hashes=frozenset(storage.proxy_hashes),
        worker_hashes=frozenset(storage.worker_hashes),
        model_hashes=frozenset(storage.model_hashes),
        registered_proxies=proxies,
        last_proxy_seqno=storage.last_proxy_seqno,
        balance=balance,
        code_hash=code_hash,
    )


async def read_root(client: ChainClient, root_address: Address | str) -> RootConfig:
    """Read and parse the root's current state. Raises RootUnavailable (or ChainUnavailable)."""
    state = await client.account_state(root_address)
    if not state.is_active or state.data is None:
        raise RootUnavailable(f"Root contract {state.address} is not deployed (account is {state.status})")
    code_hash = state.code.hash if state.code is not None else None
    return parse_root(state.address, state.data, balance=state.balance, code_hash=code_hash)


# --------------------------------------------------------------------------------------------------
# Pre-flight


class PreflightReason(StrEnum):
    MODEL_NOT_ALLOWED = "ModelNotAllowed"
    IMAGE_HASH_NOT_ALLOWED = "ImageHashNotAllowed"
    NETWORK_MISMATCH = "NetworkMismatch"
    NO_PROXIES = "NoProxies"
    UNKNOWN_CONTRACT_CODE = "UnknownContractCode"


# Problems of the CocoonNode's own configuration (`Configured=False`); the rest are the root's answer
# to the worker (`Registered=False`).
SPEC_PROBLEMS = frozenset({PreflightReason.IMAGE_HASH_NOT_ALLOWED, PreflightReason.UNKNOWN_CONTRACT_CODE})


@dataclass(frozen=True)
class PreflightProblem:
    reason: PreflightReason
    message: str

    @property
    def is_spec_problem(self) -> bool:
        return self.reason in SPEC_PROBLEMS


def decode_image_hash(value: str | bytes) -> bytes:
    """A worker image hash as the runner config spells it (base64, §2.3) or hex; 32 bytes."""
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ValueError(f"image hash {value!r} is neither base64 nor 64 hex digits") from exc
    if len(raw) != 32:
        raise ValueError(f"image hash must be 32 bytes, got {len(raw)}")
    return raw


def unknown_code(root: RootConfig, trusted: Iterable[str] = ()) -> list[str]:
    """The code hashes in play that are neither the official COCOON contracts' nor confirmed by the
    admin: the root's own code and the proxy/worker code its params hand out (§6.1). Each entry is
    "<what> <hex>"."""
    allowed = {t.lower() for t in trusted}
    cells: dict[ContractName, bytes | None] = {
        "cocoon_root": root.code_hash,
        "cocoon_worker": root.params.worker_sc_code.hash if root.params.worker_sc_code is not None else None,
        "cocoon_proxy": root.params.proxy_sc_code.hash if root.params.proxy_sc_code is not None else None,
    }
    return [
        f"{name.removeprefix('cocoon_')} {code.hex()}"
        for name, code in cells.items()
        if code is not None and code.hex() != OFFICIAL_CODE_HASHES[name] and code.hex() not in allowed
    ]


def preflight(
    root: RootConfig,
    model: str,
    image_hash: str | bytes | None,
    is_test: bool,
    *,
    trusted_code_hashes: Iterable[str] = (),
) -> list[PreflightProblem]:
    """Why a worker for `model` must not be started against `root` (empty list: go ahead).

    The official runner aborts (and is not restarted) when its image or model is not listed or when
    `is_test` differs, and cannot register without a proxy (§2.4, §16). In production (`is_test`
    false) the runner checks its image hash on every tick, so a worker without a listed hash is refused
    here; in test mode nobody checks it. Contract code the operator does not know moves no money until
    the admin confirms its hash.
    """
    problems: list[PreflightProblem] = []
    unknown = unknown_code(root, trusted_code_hashes)
    if unknown:
        problems.append(
            PreflightProblem(
                PreflightReason.UNKNOWN_CONTRACT_CODE,
                f"Root contract {root.address} runs contract code that is not the official COCOON code: "
                f"{', '.join(unknown)}; no money moves until spec.network.trustedCodeHashes lists it "
                "(for a private network with its own contracts)",
            )
        )
    if not root.has_model(model):
        problems.append(
            PreflightProblem(
                PreflightReason.MODEL_NOT_ALLOWED,
                f"Model {model} (sha256 {model_hash(model).hex()}) is not allowed by root contract "
                f"{root.address}",
            )
        )
    if not is_test:
        digest = decode_image_hash(image_hash) if image_hash is not None else None
        if digest is None:
            problems.append(
                PreflightProblem(
                    PreflightReason.IMAGE_HASH_NOT_ALLOWED,
                    f"spec.imageHash is not set: a production worker (worker.mode Production) for model "
                    f"{model} must run an image whose hash root contract {root.address} lists, or the "
                    "runner aborts",
                )
            )
        elif not root.has_worker_hash(digest):
            problems.append(
                PreflightProblem(
                    PreflightReason.IMAGE_HASH_NOT_ALLOWED,
                    f"spec.imageHash {digest.hex()} is not among the worker hashes of root contract "
                    f"{root.address} (model {model}); the production runner would abort",
                )
            )
    if root.is_test != is_test:
        want, have = ("test" if is_test else "production"), ("test" if root.is_test else "production")
        problems.append(
            PreflightProblem(
                PreflightReason.NETWORK_MISMATCH,
                f"Root contract {root.address} is a {have} network but the worker for model {model} "
                f"is configured for {want}",
            )
        )
    if not root.registered_proxies:
        problems.append(
            PreflightProblem(
                PreflightReason.NO_PROXIES,
                f"Root contract {root.address} has no registered proxies; a worker for model {model} "
                f"could not register",
            )
        )
    return problems


def params_rollover(root: RootConfig, contract_params_versions: Iterable[int]) -> list[int]:
    """The params versions still in use by our contracts that the root has moved past (§8.5)."""
    return sorted({v for v in contract_params_versions if v < root.params_version})
