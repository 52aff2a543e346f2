"""Does an existing object already carry every field we want? (Then applying it would be a no-op.)

Subset semantics: the API server adds defaults (e.g. `terminationMessagePath`) and other managers
may add fields; only fields we set are compared. Quantities compare by value ("1Gi" == "1024Mi").
"""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity


def _quantity(value: Any) -> Decimal | None:
    try:
        return Decimal(parse_quantity(value))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, ArithmeticError):
        return None


def contains(existing: Any, desired: Any) -> bool:
    if isinstance(desired, Mapping):
        if not isinstance(existing, Mapping):
            return False
        return all(key in existing and contains(existing[key], value) for key, value in desired.items())
    if isinstance(desired, Sequence) and not isinstance(desired, str):
        if not isinstance(existing, Sequence) or isinstance(existing, str) or len(existing) != len(desired):
            return False
        return all(contains(e, d) for e, d in zip(existing, desired, strict=True))
    if existing == desired:
        return True
    if isinstance(desired, str | int) and isinstance(existing, str | int) and not isinstance(desired, bool):
        left, right = _quantity(existing), _quantity(desired)
        return left is not None and left == right
    return False


def up_to_date(existing: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """True when applying `desired` would change nothing we own."""
    if existing is None:
        return False
    wanted = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return contains(existing, wanted)
