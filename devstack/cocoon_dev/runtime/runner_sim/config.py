"""The runner's config file `worker-config.json` (cocoon-protocol.md §2.3) and the wallet key file."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_ACTIVE_REQUESTS = 200  # runner default when 0/absent
WALLET_KEY_ENV = "COCOON_NODE_WALLET_KEY_FILE"


class ConfigError(ValueError):
    """A config field is missing or malformed; the message names the field (never a secret value)."""


def _bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).strip().lower() in ("0", "1", "true", "false"):
        return str(value).strip().lower() in ("1", "true")
    raise ConfigError(f"{key}: expected a boolean")


def _int(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    try:
        return int(value)  # the official template quotes `coefficient`
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected an integer") from None


def _str(raw: dict[str, Any], key: str, default: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string")
    return value


def decode_wallet_key(text: str, source: str) -> bytes:
    """32-byte Ed25519 seed, base64 (as `head -c 32 /dev/urandom | base64`)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{source}: node wallet key is not valid base64") from None
    if len(key) != 32:
        raise ConfigError(f"{source}: node wallet key must be 32 bytes, got {len(key)}")
    return key


@dataclass(frozen=True)
class WorkerConfig:
    is_test: bool
    is_testnet: bool
    http_port: int
    proxy_connections: int
    model_name: str
    ton_config_filename: str
    owner_address: str
    image_hash: str
    root_contract_address: str
    connect_to_proxy_via: str
    forward_requests_to: str
    coefficient: int
    max_active_requests: int
    check_proxy_hashes: bool
    http_access_hash: str
    node_wallet_key: bytes | None

    @property
    def checks_enabled(self) -> bool:
        return self.check_proxy_hashes or not self.is_test

    @classmethod
    def from_dict(cls, raw: dict[str, Any], wallet_key_file: Path | None = None) -> WorkerConfig:
        key: bytes | None = None
        key_file = wallet_key_file or _env_path(WALLET_KEY_ENV) or _opt_path(raw.get("node_wallet_key_file"))
        if key_file is not None:
            try:
                key = decode_wallet_key(key_file.read_text(), "node wallet key file")
            except OSError as exc:
                raise ConfigError(f"node wallet key file: cannot read ({exc.strerror})") from None
        else:
            text = _str(raw, "node_wallet_key")
            if text and not text.startswith("$"):
                key = decode_wallet_key(text, "node_wallet_key")
        max_active = _int(raw, "max_active_requests", 0)
        coefficient = _int(raw, "coefficient", 1000)
        if not 0 <= coefficient < 10**9:
            raise ConfigError("coefficient: must be in [0, 1e9)")
        return cls(
            is_test=_bool(raw, "is_test", False),
            is_testnet=_bool(raw, "is_testnet", False),
            http_port=_int(raw, "http_port", 12000),
            proxy_connections=max(1, _int(raw, "proxy_connections", 1)),
            model_name=_str(raw, "model_name"),
            ton_config_filename=_str(raw, "ton_config_filename"),
            owner_address=_str(raw, "owner_address"),
            image_hash=_str(raw, "image_hash"),
            root_contract_address=_str(raw, "root_contract_address"),
            connect_to_proxy_via=_str(raw, "connect_to_proxy_via", "127.0.0.1:8116"),
            forward_requests_to=_str(raw, "forward_requests_to", "127.0.0.1:8000"),
            coefficient=coefficient,
            max_active_requests=max_active if max_active > 0 else DEFAULT_MAX_ACTIVE_REQUESTS,
            check_proxy_hashes=_bool(raw, "check_proxy_hashes", False),
            http_access_hash=_str(raw, "http_access_hash"),
            node_wallet_key=key,
        )

    @classmethod
    def load(cls, path: Path, wallet_key_file: Path | None = None) -> WorkerConfig:
        try:
            raw = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, wallet_key_file)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _opt_path(value: Any) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None
