"""Signed payout vouchers (cocoon-protocol.md §7.4, §8.2).

A proxy signs the representation hash of `SignedPayout` (cumulative `new_tokens` for one worker
contract) with its Ed25519 key; anyone may submit the wrapped voucher to the worker contract, and may
repack `send_excesses_to` because that field is outside the signature. The dev stack's runner
simulator uses this module in place of a real proxy.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.messages import PayoutRequest, SignedPayout
from cocoon_operator.ton.ops import Op


def random_query_id() -> int:
    return secrets.randbits(64)


def sign_voucher(
    proxy_private_key: bytes,
    *,
    worker_contract: Address,
    new_tokens: int,
    send_excesses_to: Address,
    query_id: int | None = None,
    last: bool = False,
) -> PayoutRequest:
    """Build and sign a voucher for `new_tokens` (cumulative) for `worker_contract`.

    `proxy_private_key` is the proxy's 32-byte Ed25519 seed. `last=True` builds the closing
    `ext_worker_last_payout_request_signed` instead.
    """
    if len(proxy_private_key) != 32:
        raise ValueError("proxy_private_key must be a 32-byte Ed25519 seed")
    if new_tokens < 0 or new_tokens >= 1 << 64:
        raise ValueError(f"new_tokens must fit in uint64, got {new_tokens}")
    op = Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED if last else Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED
    qid = random_query_id() if query_id is None else query_id
    inner = SignedPayout(
        query_id=qid, new_tokens=new_tokens, expected_my_address=worker_contract, op=op
    ).to_cell()
    signature = SigningKey(proxy_private_key).sign(inner.hash).signature
    return PayoutRequest(
        query_id=qid, send_excesses_to=send_excesses_to, signature=signature, inner=inner, op=op
    )


def repack_send_excesses_to(voucher: PayoutRequest | Cell, send_excesses_to: Address) -> PayoutRequest:
    """The same voucher with another excess address (the signature stays valid, §8.3 step 2)."""
    request = PayoutRequest.from_cell(voucher) if isinstance(voucher, Cell) else voucher
    return replace(request, send_excesses_to=send_excesses_to)


def verify_voucher(
    voucher: PayoutRequest | Cell, *, proxy_public_key: bytes, worker_contract: Address | None = None
) -> SignedPayout:
    """Check a voucher like the runner's `check_signed_pay_message`: layout, op/query_id, signature
    and (optionally) the worker contract address. Returns the signed content or raises ValueError."""
    request = PayoutRequest.from_cell(voucher) if isinstance(voucher, Cell) else voucher
    payout = request.payout
    if payout.op != request.op or payout.query_id != request.query_id:
        raise LayoutError("voucher: inner op/query_id differ from the outer ones")
    try:
        VerifyKey(proxy_public_key).verify(request.inner.hash, request.signature)
    except BadSignatureError as exc:
        raise ValueError("voucher: bad signature for this proxy key") from exc
    if worker_contract is not None and payout.expected_my_address != worker_contract:
        raise ValueError("voucher: signed for another worker contract")
    return payout
