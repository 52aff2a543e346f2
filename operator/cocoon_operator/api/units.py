"""TON amounts and durations as the CRD spells them (decimal strings, `1h30m`) ↔ integers."""

import re
from decimal import Decimal
from typing import Any

NANO_PER_TON = 1_000_000_000

_TON_RE = re.compile(r"^(0|[1-9][0-9]{0,9})(?:\.([0-9]{1,9}))?$")
_DURATION_RE = re.compile(r"^(?:[0-9]{1,6}[hms])+$")
_DURATION_PART_RE = re.compile(r"([0-9]{1,6})([hms])")
_SECONDS = {"h": 3600, "m": 60, "s": 1}


def ton_to_nano(text: str) -> int:
    """Parse a TON decimal string ("2.1") into nanoTON (2_100_000_000); exact, no floats."""
    match = _TON_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a TON amount: use a decimal string such as 2.5 (at most 9 decimals)"
        )
    whole, frac = match.group(1), match.group(2) or ""
    return int(whole) * NANO_PER_TON + int(frac.ljust(9, "0"))


def nano_to_ton(nano: int) -> str:
    """Format nanoTON as the shortest exact decimal string (2_100_000_000 → "2.1")."""
    sign = "-" if nano < 0 else ""
    whole, frac = divmod(abs(nano), NANO_PER_TON)
    text = f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
    return sign + text


def parse_fraction(text: str) -> Decimal:
    """A decimal fraction in [0, 1] such as "0.05"."""
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise ValueError(f"{text!r} is not a decimal fraction") from exc
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"{text!r} is not a decimal fraction between 0 and 1")
    return value


def parse_duration(text: str) -> int:
    """Parse `30s`, `5m`, `1h30m` into whole seconds."""
    if not _DURATION_RE.match(text):
        raise ValueError(f"{text!r} is not a duration: use e.g. 30s, 5m or 1h30m")
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART_RE.findall(text))


def format_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def status_int(value: Any) -> int | None:
    """A whole number read back from a status (nanoTON amounts are strings there); None for a missing
    or malformed value, and for a boolean (which `int` would take as 0 or 1)."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
