"""Encoding helpers pytoniq-core lacks: a multi-root BoC writer and a hand-encoded `liteServer.error`.

pytoniq-core's `Cell.to_boc()` only writes single-root BoCs, but account proofs and transaction lists
are several roots in one BoC. Its TL writer silently skips `string` fields, so `liteServer.error`
(`code:int message:string`) is written by hand here.
"""

from __future__ import annotations

import base64
import binascii
import zlib

from pytoniq_core.boc.cell import Cell

_BOC_MAGIC = b"\xb5\xee\x9c\x72"
# liteServer.error code:int message:string = liteServer.Error;
LITE_SERVER_ERROR_ID = zlib.crc32(b"liteServer.error code:int message:string = liteServer.Error").to_bytes(
    4, "little"
)


def cells_to_boc(roots: list[Cell]) -> bytes:
    """Serialise `roots` (one or more cells, sharing subtrees) into one BoC, without index or CRC."""
    if not roots:
        raise ValueError("cells_to_boc: at least one root cell is needed")
    if len(roots) == 1:
        single: bytes = roots[0].to_boc()
        return single
    ordered: dict[Cell, None] = {}
    for root in roots:
        root.order(ordered)  # parents before children, shared cells once
    # Every root must precede its refs; roots that are refs of another root are listed where ordered.
    index = {cell: i for i, cell in enumerate(ordered)}
    size = max((len(index).bit_length() + 7) // 8, 1)
    payload = bytearray()
    for cell in index:
        payload += cell.serialize(index, size)
    offset_size = max((len(payload).bit_length() + 7) // 8, 1)
    header = bytearray(_BOC_MAGIC)
    header += bytes([size])  # flags: no index, no crc, no cache bits; size_bytes in the low 3 bits
    header += bytes([offset_size])
    header += len(index).to_bytes(size, "big")
    header += len(roots).to_bytes(size, "big")
    header += (0).to_bytes(size, "big")  # absent cells
    header += len(payload).to_bytes(offset_size, "big")
    for root in roots:
        header += index[root].to_bytes(size, "big")
    return bytes(header + payload)


def b64_to_cell(data: str | bytes) -> Cell:
    """One root cell from a base64 BoC (the emulator's format)."""
    return Cell.one_from_boc(base64.b64decode(data))


def cell_to_b64(cell: Cell) -> str:
    return base64.b64encode(cell.to_boc()).decode()


def tl_bytes(value: bytes) -> bytes:
    """TL `bytes`/`string`: length prefix (1 byte, or 0xFE + 3 bytes), data, zero padding to 4 bytes."""
    if len(value) <= 253:
        out = bytes([len(value)]) + value
    else:
        out = b"\xfe" + len(value).to_bytes(3, "little") + value
    return out + b"\x00" * (-len(out) % 4)


def lite_server_error(code: int, message: str) -> bytes:
    """Boxed `liteServer.error{code, message}`; pytoniq raises it as `LiteServerError(code, message)`."""
    return LITE_SERVER_ERROR_ID + code.to_bytes(4, "little", signed=True) + tl_bytes(message.encode())


def hex32(data: bytes) -> str:
    """A 32-byte value in the form pytoniq-core's TL writer takes for `int256` (wire order hex)."""
    return binascii.hexlify(data).decode()
