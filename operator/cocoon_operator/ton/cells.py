"""Cell primitives shared by the COCOON codecs: strict loads that name the field, bounded stores.

Every load rejects what the official runner's parsers reject ("extra data ..."); amounts are integers
of nanoTON; addresses are `addr_std` in workchain 0 (anycast is refused).
"""

from __future__ import annotations

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.hashmap.hashmap import HashMap
from pytoniq_core.boc.slice import Slice


class LayoutError(ValueError):
    """A cell does not match the published layout (wrong tag, version, size or trailing data)."""


# --- primitives ---------------------------------------------------------------------------------


def begin() -> Builder:
    return Builder()


def parse_cell(cell: Cell) -> Slice:
    s: Slice = Slice.from_cell(cell)
    return s


def ensure_end(s: Slice, what: str) -> None:
    if s.remaining_bits or s.remaining_refs:
        raise LayoutError(f"{what}: {s.remaining_bits} trailing bits and {s.remaining_refs} trailing refs")


def check_uint(value: int, bits: int, what: str) -> int:
    if not 0 <= value < (1 << bits):
        raise LayoutError(f"{what}: {value} does not fit in uint{bits}")
    return value


def check_coins(value: int, what: str) -> int:
    if not 0 <= value < (1 << 120):
        raise LayoutError(f"{what}: {value} is not a valid Coins amount (nanoTON)")
    return value


def load_uint(s: Slice, bits: int, what: str) -> int:
    if s.remaining_bits < bits:
        raise LayoutError(f"{what}: needs {bits} bits, only {s.remaining_bits} left")
    return int(s.load_uint(bits))


def load_coins(s: Slice, what: str) -> int:
    try:
        return int(s.load_coins())
    except Exception as exc:  # pytoniq raises bare errors on underflow
        raise LayoutError(f"{what}: not a valid Coins field") from exc


def load_ref(s: Slice, what: str) -> Cell:
    if s.remaining_refs < 1:
        raise LayoutError(f"{what}: missing reference")
    return s.load_ref()


def load_maybe_ref(s: Slice, what: str) -> Cell | None:
    if load_uint(s, 1, what):
        return load_ref(s, what)
    return None


def load_address(s: Slice, what: str) -> Address:
    """Load an `addr_std` without anycast (267 bits): the only MsgAddress COCOON uses."""
    if s.remaining_bits < 267 or s.preload_uint(3) != 0b100:
        raise LayoutError(f"{what}: expected addr_std without anycast (267 bits)")
    addr = s.load_address()
    if not isinstance(addr, Address):  # pragma: no cover - excluded by the tag check
        raise LayoutError(f"{what}: expected addr_std")
    return addr


def store_address(b: Builder, address: Address) -> Builder:
    b.store_address(address)
    return b


def unit_serializer(_value: object, _dest: Builder) -> None:
    return None


def store_hash_set(b: Builder, hashes: frozenset[bytes], what: str) -> Builder:
    mapping = HashMap(256, value_serializer=unit_serializer)
    for h in sorted(hashes):
        if len(h) != 32:
            raise LayoutError(f"{what}: hash must be 32 bytes, got {len(h)}")
        mapping.set_int_key(int.from_bytes(h, "big"), None)
    b.store_dict(mapping.serialize())
    return b


def load_dict(s: Slice, key_bits: int, what: str) -> dict[int, Slice]:
    if load_uint(s, 1, what):
        root = load_ref(s, what)
        parsed = HashMap.parse(parse_cell(root), key_bits)
        return dict(parsed or {})
    return {}


def load_hash_set(s: Slice, what: str) -> frozenset[bytes]:
    entries = load_dict(s, 256, what)
    for key, value in entries.items():
        ensure_end(value, f"{what}[{key:064x}]")
    return frozenset(key.to_bytes(32, "big") for key in entries)
