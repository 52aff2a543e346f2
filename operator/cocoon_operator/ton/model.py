"""COCOON model strings `name@commit:verity` and their root hashes (cocoon-protocol.md §6.1).

The root lists SHA-256 of the **full** string; proxies and clients route by the base name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

_COMMIT_RE: Final = re.compile(r"^[0-9a-f]{40}$")
_VERITY_RE: Final = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    commit: str
    verity: str

    @property
    def full(self) -> str:
        return f"{self.name}@{self.commit}:{self.verity}"

    @property
    def hash(self) -> bytes:
        return model_hash(self.full)

    def __str__(self) -> str:
        return self.full


def parse_model(text: str, *, field: str = "model") -> ModelRef:
    """Parse `name@<40 hex commit>:<64 hex verity>`; ValueError names `field` and the bad part."""
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
    if not _COMMIT_RE.match(commit):
        raise ValueError(f"{field}: commit must be 40 lower-case hex digits, got {commit!r}")
    if not _VERITY_RE.match(verity):
        raise ValueError(f"{field}: verity hash must be 64 lower-case hex digits, got {verity!r}")
    if "@" in name:
        raise ValueError(f"{field}: model name must not contain '@'")
    return ModelRef(name=name, commit=commit, verity=verity)


def model_hash(full_model: str) -> bytes:
    """SHA-256 of the full model string, as the root's `model_hashes` keys it."""
    return hashlib.sha256(full_model.encode("utf-8")).digest()


def model_hash_int(full_model: str) -> int:
    """The same hash as the uint256 that `model_hash_is_valid` takes."""
    return int.from_bytes(model_hash(full_model), "big")


def base_name(full_model: str) -> str:
    """The routing name (before '@')."""
    return full_model.split("@", 1)[0]
