"""The official runner's JSON writer, reproduced (cocoon-protocol.md §4.1 "Formatting").

Pretty-printed with a 2-space indent and one element per line; strings are written WITHOUT JSON
escaping; integers plain; floats in C++ default stream format (`%g`, 6 significant digits).
Objects are lists of (key, value) pairs so that a key may be emitted twice, as the runner does with
`cached_tokens_price_multiplier`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Obj:
    """An ordered JSON object that may repeat keys."""

    items: Sequence[tuple[str, Value]]


Value = None | bool | int | float | str | Obj | Sequence["Value"]


def format_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def dumps(value: Value) -> str:
    out: list[str] = []
    _write(value, 0, out)
    return "".join(out) + "\n"


def _write(value: Value, level: int, out: list[str]) -> None:
    pad = "  " * (level + 1)
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_float(value))
    elif isinstance(value, str):
        out.append(f'"{value}"')  # quirk: no escaping, like the runner's SimpleJsonSerializer
    elif isinstance(value, Obj):
        if not value.items:
            out.append("{}")
            return
        out.append("{\n")
        for i, (key, item) in enumerate(value.items):
            out.append(f'{pad}"{key}": ')
            _write(item, level + 1, out)
            out.append(",\n" if i + 1 < len(value.items) else "\n")
        out.append("  " * level + "}")
    else:
        items = list(value)
        if not items:
            out.append("[]")
            return
        out.append("[\n")
        for i, item in enumerate(items):
            out.append(pad)
            _write(item, level + 1, out)
            out.append(",\n" if i + 1 < len(items) else "\n")
        out.append("  " * level + "]")
