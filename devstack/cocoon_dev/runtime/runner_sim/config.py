"""The runner's `worker-config.json`, read the way the official worker runner reads it.

The official runner parses the file into the TL type `workerRunner.config` (cocoon_api.tl) with TON's
TL-JSON reader, then checks a few fields while it loads (cocoon-protocol.md §2.3). This module does the
same, so the simulator refuses exactly what the runner refuses, with the runner's words:

- a missing or `null` field keeps its default (false, 0, "", a zero int256): the runner starts with
  it, and fails later only where the empty value is unusable (`connect_to_proxy_via` → "expected
  <ip>:<port>", an address → "failed to parse owner address: …");
- `Bool` takes a JSON boolean or anything `int` takes (non-zero is true), `int` a JSON number or a
  decimal string (the official template quotes `coefficient`), `string` only a JSON string, `int256`
  a base64 string of exactly 32 bytes;
- keys that are not fields are ignored (the official template carries `rpc_port`).

Every error becomes `ConfigError("failed to parse runner config: …")`; no message ever holds the
value of `node_wallet_key`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pytoniq_core.boc.address import Address

TlType = Literal["Bool", "int", "string", "int256"]

# `workerRunner.config` in the order of the TL schema (tests/runtime compare it with the reference).
WORKER_RUNNER_CONFIG: Final[tuple[tuple[str, TlType], ...]] = (
    ("is_test", "Bool"),
    ("is_testnet", "Bool"),
    ("http_port", "int"),
    ("owner_address", "string"),
    ("proxy_connections", "int"),
    ("connect_to_proxy_via", "string"),
    ("model_name", "string"),
    ("coefficient", "int"),
    ("root_contract_address", "string"),
    ("node_wallet_key", "int256"),
    ("forward_requests_to", "string"),
    ("ton_config_filename", "string"),
    ("check_proxy_hashes", "Bool"),
    ("max_active_requests", "int"),
    ("image_hash", "int256"),
    ("http_access_hash", "string"),
)
DEFAULT_MAX_ACTIVE_REQUESTS = 200  # runner default when 0/absent
PREFIX: Final = "failed to parse runner config: "
_DEFAULTS: Final[dict[TlType, Any]] = {"Bool": False, "int": 0, "string": "", "int256": bytes(32)}
_INT_RE = re.compile(r"-?[0-9]+")


class ConfigError(ValueError):
    """The runner would stop at start with this message (never carries a secret value)."""


def _json_type(value: Any) -> str:
    """TON's name for a JSON value's type (td::JsonValue::Type)."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "String"
    return "Array" if isinstance(value, list) else "Object"


def _int32(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"Expected number, got {_json_type(value)}")
    text = value if isinstance(value, str) else json.dumps(value)
    if not _INT_RE.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise ValueError(f'Can\'t parse "{text}" as an integer')
    return int(text)


def _from_json(value: Any, tl_type: TlType) -> Any:
    if tl_type == "int":
        return _int32(value)
    if tl_type == "Bool":
        if isinstance(value, bool):
            return value
        try:
            return _int32(value) != 0
        except ValueError:
            raise ValueError(f"Expected bool, got {_json_type(value)}") from None
    if not isinstance(value, str):
        raise ValueError(f"Expected string, got {_json_type(value)}")
    if tl_type == "string":
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "Wrong string length" if len(value) % 4 else "Wrong character in the string"
        ) from None
    if len(raw) != 32:
        raise ValueError("Wrong length for UInt")
    return raw


def read_tl(raw: dict[str, Any]) -> dict[str, Any]:
    """`td::from_json(workerRunner_config&, …)`: every field, defaults for the missing ones."""
    out: dict[str, Any] = {}
    for field, tl_type in WORKER_RUNNER_CONFIG:
        value = raw.get(field)
        try:
            out[field] = _DEFAULTS[tl_type] if value is None else _from_json(value, tl_type)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}json does not fit TL scheme: {exc}") from None
    return out


def _address(text: str, what: str) -> str:
    try:
        Address(text)
    except Exception:
        raise ConfigError(f"{PREFIX}{what}: cannot parse address") from None
    return text


def _ip_port(text: str) -> str:
    host, sep, port = text.partition(":")
    if not sep:
        raise ConfigError(f"{PREFIX}expected <ip>:<port>")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f'{PREFIX}Can\'t parse "{port}" as an integer')
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ConfigError(f"{PREFIX}invalid IPv4 address in connect_to_proxy_via")
    return text


@dataclass(frozen=True)
class WorkerConfig:
    is_test: bool
    is_testnet: bool
    http_port: int
    proxy_connections: int
    model_name: str
    ton_config_filename: str
    owner_address: str
    image_hash: bytes
    root_contract_address: str
    connect_to_proxy_via: str
    forward_requests_to: str
    coefficient: int
    max_active_requests: int
    check_proxy_hashes: bool
    http_access_hash: str
    node_wallet_key: bytes = b""

    def __repr__(self) -> str:  # never show the key
        return f"WorkerConfig(owner={self.owner_address}, model={self.model_name}, is_test={self.is_test})"

    @property
    def checks_enabled(self) -> bool:
        return self.check_proxy_hashes or not self.is_test

    @property
    def image_hash_b64(self) -> str:
        return base64.b64encode(self.image_hash).decode()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WorkerConfig:
        """Parse like `WorkerRunner::load_config`: the TL reader, then the checks in the runner's order."""
        conf = read_tl(raw)
        owner = _address(conf["owner_address"], "failed to parse owner address")
        root = _address(conf["root_contract_address"], "cannot parse root contract address")
        _ip_port(conf["connect_to_proxy_via"])
        forward = conf["forward_requests_to"]
        if ":" in forward and not forward.rpartition(":")[2].isdigit():
            raise ConfigError(f'{PREFIX}Can\'t parse "{forward.rpartition(":")[2]}" as an integer')
        max_active = conf["max_active_requests"]
        return cls(
            is_test=conf["is_test"],
            is_testnet=conf["is_testnet"],
            http_port=conf["http_port"] or 12000,
            proxy_connections=max(1, conf["proxy_connections"]),
            model_name=conf["model_name"],
            ton_config_filename=conf["ton_config_filename"],
            owner_address=owner,
            image_hash=conf["image_hash"],
            root_contract_address=root,
            connect_to_proxy_via=conf["connect_to_proxy_via"],
            forward_requests_to=forward,
            coefficient=conf["coefficient"],
            max_active_requests=max_active if max_active > 0 else DEFAULT_MAX_ACTIVE_REQUESTS,
            check_proxy_hashes=conf["check_proxy_hashes"],
            http_access_hash=conf["http_access_hash"],
            node_wallet_key=conf["node_wallet_key"],
        )

    @classmethod
    def load(cls, path: Path) -> WorkerConfig:
        try:
            raw = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{PREFIX}failed to read: {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{PREFIX}failed to parse json: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{PREFIX}json does not fit TL scheme: Expected object, got {_json_type(raw)}")
        return cls.from_dict(raw)
