"""Declarative TL-B layouts: each COCOON struct states its layout once, in TL-B, and one generic
store/load walks it with pytoniq-core's Builder and Slice and the strict checks of `cells`, so the bits
a codec writes and the bits it reads come from one definition:

    LAYOUT = Layout("worker owner_address:MsgAddress state:uint2 tokens:uint64 params:^Params")

Types: `uintN`, `intN`, `bitsN` (bytes), `Bool`, `Coins`, `MsgAddress` (addr_std, workchain 0),
`^Cell` (kept as is), `(Maybe ^Cell)`, `^S` and `(Maybe ^S)` for a struct S defined before,
`(HashmapE 256 ())` (a set of hashes), `(HashmapE N S)`, `(Ascii N)` (len:uintN, then len ASCII
bytes), and the names a layout adds itself. Errors name the field as `<layout>.<field>`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.hashmap.hashmap import HashMap
from pytoniq_core.boc.slice import Slice

from cocoon_operator.ton.cells import (
    LayoutError,
    begin,
    check_coins,
    check_uint,
    ensure_end,
    load_address,
    load_coins,
    load_dict,
    load_hash_set,
    load_maybe_ref,
    load_ref,
    load_uint,
    parse_cell,
    store_hash_set,
)

# --- field types ------------------------------------------------------------------------------------


class Kind(ABC):
    """How one field is written and read. `what` names the field in errors."""

    @abstractmethod
    def store(self, b: Builder, value: Any, what: str) -> None: ...

    @abstractmethod
    def load(self, s: Slice, what: str) -> Any: ...


@dataclass(frozen=True)
class Uint(Kind):
    bits: int

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_uint(check_uint(value, self.bits, what), self.bits)

    def load(self, s: Slice, what: str) -> int:
        return load_uint(s, self.bits, what)


@dataclass(frozen=True)
class OneOf(Kind):
    """A uint that must be one of `allowed` (an opcode, a struct version) both ways; `refusal` is the
    error, formatted with `what` and `value`."""

    bits: int
    allowed: tuple[int, ...]
    refusal: str

    def _checked(self, value: int, what: str) -> int:
        if value not in self.allowed:
            raise LayoutError(self.refusal.format(what=what, value=value))
        return value

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_uint(self._checked(value, what), self.bits)

    def load(self, s: Slice, what: str) -> int:
        return self._checked(load_uint(s, self.bits, what), what)


@dataclass(frozen=True)
class Int(Kind):
    bits: int

    def store(self, b: Builder, value: Any, what: str) -> None:
        if not -(1 << (self.bits - 1)) <= value < (1 << (self.bits - 1)):
            raise LayoutError(f"{what}: {value} does not fit in int{self.bits}")
        b.store_int(value, self.bits)

    def load(self, s: Slice, what: str) -> int:
        if s.remaining_bits < self.bits:
            raise LayoutError(f"{what}: needs {self.bits} bits, only {s.remaining_bits} left")
        return int(s.load_int(self.bits))


class _Flag(Kind):
    """A Bool as one bit."""

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_uint(1 if value else 0, 1)

    def load(self, s: Slice, what: str) -> bool:
        return bool(load_uint(s, 1, what))


class _Coins(Kind):
    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_coins(check_coins(value, what))

    def load(self, s: Slice, what: str) -> int:
        return load_coins(s, what)


class _Address(Kind):
    """`addr_std` in workchain 0, without anycast (`cells.load_address`)."""

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_address(value)

    def load(self, s: Slice, what: str) -> Any:
        return load_address(s, what)


@dataclass(frozen=True)
class Bytes(Kind):
    """`bits{8*size}` as bytes: keys, hashes, signatures."""

    size: int

    def store(self, b: Builder, value: Any, what: str) -> None:
        if len(value) != self.size:
            raise LayoutError(f"{what} must be {self.size} bytes")
        b.store_bytes(value)

    def load(self, s: Slice, what: str) -> bytes:
        if s.remaining_bits < self.size * 8:
            raise LayoutError(f"{what}: needs {self.size * 8} bits, only {s.remaining_bits} left")
        return bytes(s.load_bytes(self.size))


@dataclass(frozen=True)
class Text(Kind):
    """`len:uint{len_bits}` then that many bytes of ASCII."""

    len_bits: int

    def store(self, b: Builder, value: Any, what: str) -> None:
        raw = value.encode("ascii")
        longest = (1 << self.len_bits) - 1
        if len(raw) > longest:
            raise LayoutError(f"{what}: {value!r} is longer than {longest} bytes")
        b.store_uint(len(raw), self.len_bits)
        b.store_bytes(raw)

    def load(self, s: Slice, what: str) -> str:
        length = load_uint(s, self.len_bits, f"{what}.len")
        if s.remaining_bits < length * 8:
            raise LayoutError(f"{what}: needs {length} bytes, only {s.remaining_bits} bits left")
        try:
            return str(s.load_bytes(length).decode("ascii"))
        except UnicodeDecodeError as exc:
            raise LayoutError(f"{what}: not ASCII") from exc


@dataclass(frozen=True)
class Ref(Kind):
    """`^X`: a struct in a child cell, or (no struct) the cell as it is, e.g. a signed payload whose
    hash must not change."""

    struct: type[Struct] | None = None

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_ref(value if self.struct is None else value.to_cell())

    def load(self, s: Slice, what: str) -> Any:
        cell = load_ref(s, what)
        return cell if self.struct is None else self.struct.from_cell(cell)


@dataclass(frozen=True)
class MaybeRef(Kind):
    """`(Maybe ^X)`: None or, as `Ref`, a struct or a cell."""

    struct: type[Struct] | None = None

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_maybe_ref(value if value is None or self.struct is None else value.to_cell())

    def load(self, s: Slice, what: str) -> Any:
        cell = load_maybe_ref(s, what)
        return cell if cell is None or self.struct is None else self.struct.from_cell(cell)


class _HashSet(Kind):
    """`(HashmapE 256 ())` of 32-byte hashes, as a frozenset."""

    def store(self, b: Builder, value: Any, what: str) -> None:
        store_hash_set(b, value, what)

    def load(self, s: Slice, what: str) -> frozenset[bytes]:
        return load_hash_set(s, what)


@dataclass(frozen=True)
class Dict(Kind):
    """`(HashmapE key_bits X)` with uint keys and struct values, as a mapping (stored in key order)."""

    key_bits: int
    struct: type[Struct]

    def store(self, b: Builder, value: Any, what: str) -> None:
        mapping = HashMap(self.key_bits, value_serializer=lambda item, dest: item.store(dest))
        for key, item in sorted(value.items()):
            mapping.set_int_key(check_uint(key, self.key_bits, f"{what} key"), item)
        b.store_dict(mapping.serialize())

    def load(self, s: Slice, what: str) -> dict[int, Any]:
        result: dict[int, Any] = {}
        for key, item in sorted(load_dict(s, self.key_bits, what).items()):
            result[key] = self.struct.load(item)
            ensure_end(item, f"{what}[{key}]")
        return result


@dataclass(frozen=True)
class Child(Kind):
    """`^[...]`: more fields of the same struct, in a child cell (the root's `data:^RootData`)."""

    layout: Layout

    def store(self, b: Builder, value: Any, what: str) -> None:
        b.store_ref(self.layout.store(begin(), value).end_cell())

    def load(self, s: Slice, what: str) -> dict[str, Any]:
        child = parse_cell(load_ref(s, what))
        values = self.layout.load(child)
        ensure_end(child, what)
        return values


# --- layouts --------------------------------------------------------------------------------------

_STRUCTS: dict[str, type[Struct]] = {}  # TL-B type name -> codec class, for `^Name` and friends
_HEAD = re.compile(r"(\w+)(?:#([0-9a-f]{8}))?")
# `name:Type`; a parenthesised type may hold spaces and one nested `()`.
_FIELD = re.compile(r"(\w+):(\((?:[^()]|\(\))*\)|\S+)")
_PLAIN: Final[dict[str, Kind]] = {
    "Bool": _Flag(),
    "Coins": _Coins(),
    "MsgAddress": _Address(),
    "^Cell": Ref(),
    "(Maybe ^Cell)": MaybeRef(),
    "(HashmapE 256 ())": _HashSet(),
}


def _struct(name: str) -> type[Struct]:
    if name not in _STRUCTS:
        raise ValueError(f"unknown TL-B type {name!r} (its struct must be defined first)")
    return _STRUCTS[name]


_COMPOUND: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Kind]], ...]] = (
    (re.compile(r"uint(\d+)"), lambda m: Uint(int(m[1]))),
    (re.compile(r"int(\d+)"), lambda m: Int(int(m[1]))),
    (re.compile(r"bits(\d+)"), lambda m: Bytes(int(m[1]) // 8)),  # whole bytes only
    (re.compile(r"\(Ascii (\d+)\)"), lambda m: Text(int(m[1]))),  # len:uintN, then len ASCII bytes
    (re.compile(r"\^(\w+)"), lambda m: Ref(_struct(m[1]))),
    (re.compile(r"\(Maybe \^(\w+)\)"), lambda m: MaybeRef(_struct(m[1]))),
    (re.compile(r"\(HashmapE (\d+) (\w+)\)"), lambda m: Dict(int(m[1]), _struct(m[2]))),
)


def _kind(text: str, types: Mapping[str, Kind]) -> Kind:
    """The field type a TL-B type expression names (`types`: the layout's own names first)."""
    named = types.get(text, _PLAIN.get(text))
    if named is not None:
        return named
    for pattern, make in _COMPOUND:
        match = pattern.fullmatch(text)
        if match:
            return make(match)
    raise ValueError(f"unknown TL-B type {text!r}")


class Layout:
    """A struct's layout, written as TL-B: `name#tag field:Type ...` (the tag, an opcode, optional).

    `types` names this layout's own field types (an opcode set, a child cell). `since` and `version`:
    the fields each struct version added, and the field that holds a cell's version (the root params:
    a field an older cell lacks is neither stored nor loaded).
    """

    def __init__(
        self,
        schema: str,
        *,
        types: Mapping[str, Kind] | None = None,
        since: Mapping[int, tuple[str, ...]] | None = None,
        version: str | None = None,
    ) -> None:
        head = _HEAD.match(schema.strip())
        if head is None:
            raise ValueError(f"TL-B layout without a name: {schema!r}")
        self.name = head[1]
        self.tag = int(head[2], 16) if head[2] else None
        body = schema.strip()[head.end() :]
        self.fields = tuple((name, _kind(text, types or {})) for name, text in _FIELD.findall(body))
        if _FIELD.sub("", body).strip():
            raise ValueError(f"TL-B layout {self.name}: cannot read {_FIELD.sub('', body).strip()!r}")
        self.since = {name: v for v, names in (since or {}).items() for name in names}
        self.version = version

    def _skips(self, name: str, get: Callable[[str], Any]) -> bool:
        return name in self.since and self.version is not None and get(self.version) < self.since[name]

    def store(self, b: Builder, obj: Any) -> Builder:
        """Write `obj`'s fields (attributes named as in the layout)."""

        def get(field: str) -> Any:
            return getattr(obj, field)

        if self.tag is not None:
            b.store_uint(self.tag, 32)
        for name, kind in self.fields:
            if not self._skips(name, get):
                kind.store(b, obj if isinstance(kind, Child) else get(name), f"{self.name}.{name}")
        return b

    def load(self, s: Slice) -> dict[str, Any]:
        """The fields read from `s`, by name; what follows them stays in `s`."""
        if self.tag is not None:
            got = load_uint(s, 32, f"{self.name}.op")
            if got != self.tag:
                raise LayoutError(f"{self.name}.op: {got:#010x}, expected {self.tag:#010x}")
        values: dict[str, Any] = {}
        for name, kind in self.fields:
            if self._skips(name, values.__getitem__):
                continue
            value = kind.load(s, f"{self.name}.{name}")
            if isinstance(kind, Child):
                values.update(value)
            else:
                values[name] = value
        return values


class Struct:
    """Base of the codec dataclasses: `store`, `load`, `to_cell` and `from_cell` follow `LAYOUT`."""

    LAYOUT: ClassVar[Layout]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if _STRUCTS.setdefault(cls.__name__, cls) is not cls:
            raise TypeError(f"two TL-B structs named {cls.__name__}")

    def validate(self) -> None:
        """Rules across fields, checked before storing (none by default)."""

    def store(self, b: Builder) -> Builder:
        self.validate()
        return self.LAYOUT.store(b, self)

    def to_cell(self) -> Cell:
        return self.store(begin()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> Self:
        """Read one struct from `s`, leaving what follows it there."""
        make: Callable[..., Self] = cls
        return make(**cls.LAYOUT.load(s))

    @classmethod
    def from_cell(cls, cell: Cell) -> Self:
        """Exactly one struct: trailing bits or refs are a LayoutError."""
        s = parse_cell(cell)
        value = cls.load(s)
        ensure_end(s, cls.LAYOUT.name)
        return value
