"""The root's hashes of COCOON model strings (cocoon-protocol.md §6.1): SHA-256 of the **full**
`name@commit:verity` string; proxies and clients route by the base name. The string itself is parsed
once, in the spec (`api.spec.ModelRef`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

_COMMIT_RE: Final = re.compile(r"^[0-9a-f]{40}$")
_VERITY_RE: Final = re.compile(r"^[0-9a-f]{64}$")


def model_hash(full_model: str) -> bytes:
    """SHA-256 of the full model string, as the root's `model_hashes` keys it."""
    return hashlib.sha256(full_model.encode("utf-8")).digest()


def model_hash_int(full_model: str) -> int:
    """The same hash as the uint256 that `model_hash_is_valid` takes."""
    return int.from_bytes(model_hash(full_model), "big")


def base_name(full_model: str) -> str:
    """The routing name (before '@')."""
    return full_model.split("@", 1)[0]
