"""Messages to and from the cocoon wallet (cocoon-protocol.md §10.3, §10.4).

External body = `signature:bits512 subwallet_id:uint32 valid_until:uint32 msg_seqno:uint32
mode_1:uint8 .. mode_n:uint8` with one `^MessageRelaxed` ref per mode (n <= 4); the signature is
Ed25519 over the representation hash of everything after it. Internal messages are built like the
official runner: flags 0x18 (bounceable) without StateInit, 0x10 (non-bounceable) with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from nacl.signing import SigningKey
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell

from cocoon_operator.ton.messages import text_body
from cocoon_operator.ton.ops import Op

MAX_MESSAGES: Final = 4
VALID_FOR_SECONDS: Final = 3600  # the runner's valid_until horizon
FLAGS_BOUNCEABLE: Final = 0x18
FLAGS_NON_BOUNCEABLE: Final = 0x10
EXTERNAL_FLOOR_NANO: Final = 2_000_000_000  # below this the wallet refuses externals (1035)
RUNNER_MIN_BALANCE_NANO: Final = 2_100_000_000  # the runner's own start/send minimum


def default_mode(value: int) -> int:
    """The runner's send mode: 0 when value > 1 nano, else 1 (pay fees separately)."""
    return 0 if value > 1 else 1


def internal_message(
    dest: Address,
    value: int,
    *,
    body: Cell | None = None,
    state_init: Cell | None = None,
    bounce: bool | None = None,
) -> Cell:
    """A `MessageRelaxed` with addr_none source and zeroed fees/lt/at; StateInit and body as refs."""
    if value < 0:
        raise ValueError(f"value must be >= 0 nanoTON, got {value}")
    if bounce is None:
        bounce = state_init is None
    b: Builder = Builder().store_uint(FLAGS_BOUNCEABLE if bounce else FLAGS_NON_BOUNCEABLE, 6)
    b.store_address(dest)
    b.store_coins(value)
    b.store_uint(0, 1 + 4 + 4 + 64 + 32)  # no extra currencies, ihr_fee, fwd_fee, created_lt, created_at
    if state_init is not None:
        b.store_uint(0b11, 2).store_ref(state_init)
    else:
        b.store_uint(0, 1)
    if body is not None:
        b.store_uint(1, 1).store_ref(body)
    else:
        b.store_uint(0, 1)
    return b.end_cell()


@dataclass(frozen=True)
class OutMessage:
    """One message the wallet sends, with its send mode."""

    message: Cell
    mode: int


def signing_payload(
    *, seqno: int, valid_until: int, messages: list[OutMessage], subwallet_id: int = 0
) -> Cell:
    """Everything after the signature (its representation hash is what gets signed)."""
    if not 0 < len(messages) <= MAX_MESSAGES:
        raise ValueError(f"a cocoon wallet external carries 1..{MAX_MESSAGES} messages, got {len(messages)}")
    b: Builder = Builder().store_uint(subwallet_id, 32).store_uint(valid_until, 32).store_uint(seqno, 32)
    for out in messages:
        if not 0 <= out.mode < 256:
            raise ValueError(f"send mode must fit in uint8, got {out.mode}")
        b.store_uint(out.mode, 8)
    for out in messages:
        b.store_ref(out.message)
    return b.end_cell()


def external_body(
    private_key: bytes,
    *,
    seqno: int,
    valid_until: int,
    messages: list[OutMessage],
    subwallet_id: int = 0,
) -> Cell:
    """The signed external body. `private_key` is the 32-byte node wallet key seed."""
    if len(private_key) != 32:
        raise ValueError("private_key must be a 32-byte Ed25519 seed")
    payload = signing_payload(
        seqno=seqno, valid_until=valid_until, messages=messages, subwallet_id=subwallet_id
    )
    signature = SigningKey(private_key).sign(payload.hash).signature
    b = Builder()
    b.store_bytes(signature)
    b.store_cell(payload)
    return b.end_cell()


def external_message(wallet: Address, body: Cell, *, state_init: Cell | None = None) -> Cell:
    """`ext_in_msg_info$10 src:addr_none dest import_fee:0` + optional StateInit + body, both as refs.

    Attach the StateInit while the wallet's seqno is 0 (lazy deploy, §10.1).
    """
    b: Builder = Builder().store_uint(0b10, 2).store_uint(0b00, 2).store_address(wallet).store_coins(0)
    if state_init is not None:
        b.store_uint(0b11, 2).store_ref(state_init)
    else:
        b.store_uint(0, 1)
    b.store_uint(1, 1).store_ref(body)
    return b.end_cell()


# --- owner ops (internal messages from the owner address) -------------------------------------------


def withdraw_body() -> Cell:
    """`"w"`: keep at most 0.01 TON and send the rest to the owner."""
    return text_body("w")


def block_body() -> Cell:
    return text_body("b")


def unblock_body() -> Cell:
    return text_body("u")


def owner_send_message_body(message: Cell, *, mode: int, query_id: int = 0) -> Cell:
    """`owner_wallet_send_message#9c69f376 query_id:uint64 mode:uint8 ^msg`."""
    b = Builder()
    b.store_uint(Op.OWNER_WALLET_SEND_MESSAGE, 32)
    b.store_uint(query_id, 64)
    b.store_uint(mode, 8)
    b.store_ref(message)
    return b.end_cell()
