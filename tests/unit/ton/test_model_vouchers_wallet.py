"""Model strings, signed vouchers and cocoon-wallet externals."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from nacl.signing import VerifyKey
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.slice import Slice
from pytoniq_core.tlb.transaction import MessageAny

from cocoon_dev.ton.vouchers import repack_send_excesses_to, sign_voucher, verify_voucher
from cocoon_operator.api.spec import ModelRef
from cocoon_operator.ton.addresses import public_key_from_seed
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.messages import PayoutRequest, parse_body
from cocoon_operator.ton.model import base_name, model_hash, model_hash_int
from cocoon_operator.ton.ops import Op
from cocoon_operator.ton.wallet_messages import (
    OutMessage,
    block_body,
    default_mode,
    external_body,
    external_message,
    internal_message,
    owner_send_message_body,
    signing_payload,
    withdraw_body,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
VERITY = "f" * 64
MODEL = f"Qwen/Qwen3-32B@{COMMIT}:{VERITY}"
A = Address((0, bytes([1]) * 32))
B = Address((0, bytes([2]) * 32))
PROXY_SEED = bytes([7]) * 32
NODE_SEED = bytes(range(32))


def test_parse_model_and_hash() -> None:
    ref = ModelRef.parse(MODEL)
    assert (ref.name, ref.commit, ref.verity_hash, ref.full, str(ref)) == (
        "Qwen/Qwen3-32B",
        COMMIT,
        VERITY,
        MODEL,
        MODEL,
    )
    assert model_hash(ref.full) == hashlib.sha256(MODEL.encode()).digest()
    assert model_hash_int(MODEL) == int.from_bytes(model_hash(MODEL), "big")
    assert base_name(MODEL) == "Qwen/Qwen3-32B"
    # the hash covers the full string, not the base name
    assert model_hash("Qwen/Qwen3-32B") != model_hash(MODEL)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty model string"),
        ("Qwen", "missing '@'"),
        (f"@{COMMIT}:{VERITY}", "empty model name"),
        (f"m@{COMMIT}{VERITY}", "missing ':'"),
        (f"m@{COMMIT[:-1]}:{VERITY}", "commit must be 40"),
        (f"m@{COMMIT.upper()}:{VERITY}", "commit must be 40"),
        (f"m@{COMMIT}:{VERITY[:-1]}", "verity hash must be 64"),
        (f" {MODEL}", "whitespace"),
        (f"a@b@{COMMIT}:{VERITY}", "must not contain '@'"),
    ],
)
def test_parse_model_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as exc:
        ModelRef.parse(text, field="spec.model")
    assert str(exc.value).startswith("spec.model: ")


def test_voucher_sign_verify_repack() -> None:
    proxy_key = public_key_from_seed(PROXY_SEED)
    voucher = sign_voucher(PROXY_SEED, worker_contract=A, new_tokens=10**9, send_excesses_to=B, query_id=42)
    assert voucher.op == Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED and voucher.query_id == 42
    VerifyKey(proxy_key).verify(voucher.inner.hash, voucher.signature)
    assert verify_voucher(voucher, proxy_public_key=proxy_key, worker_contract=A).new_tokens == 10**9
    # the excess address is outside the signature
    repacked = repack_send_excesses_to(voucher.to_cell(), A)
    assert repacked.send_excesses_to == A and repacked.signature == voucher.signature
    assert verify_voucher(repacked.to_cell(), proxy_public_key=proxy_key, worker_contract=A)
    with pytest.raises(ValueError, match="another worker contract"):
        verify_voucher(voucher, proxy_public_key=proxy_key, worker_contract=B)
    with pytest.raises(ValueError, match="bad signature"):
        verify_voucher(voucher, proxy_public_key=public_key_from_seed(bytes(32)))
    with pytest.raises(LayoutError, match="differ"):
        verify_voucher(dataclasses.replace(voucher, query_id=43), proxy_public_key=proxy_key)
    last = sign_voucher(PROXY_SEED, worker_contract=A, new_tokens=1, send_excesses_to=B, last=True)
    assert last.op == Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED == last.payout.op
    assert isinstance(parse_body(last.to_cell()), PayoutRequest)
    assert sign_voucher(PROXY_SEED, worker_contract=A, new_tokens=1, send_excesses_to=B).query_id != (
        sign_voucher(PROXY_SEED, worker_contract=A, new_tokens=1, send_excesses_to=B).query_id
    )
    with pytest.raises(ValueError, match="uint64"):
        sign_voucher(PROXY_SEED, worker_contract=A, new_tokens=1 << 64, send_excesses_to=B)


def test_internal_message_flags_like_the_runner() -> None:
    plain = internal_message(A, 500_000_000, body=withdraw_body())
    assert plain.begin_parse().load_uint(6) == 0x18
    msg = MessageAny.deserialize(plain.begin_parse())
    assert msg.info.bounce and msg.info.value.grams == 500_000_000 and msg.init is None
    deploy = internal_message(A, 300_000_000, state_init=block_body())
    assert deploy.begin_parse().load_uint(6) == 0x10
    assert default_mode(2) == 0 and default_mode(1) == 1
    with pytest.raises(ValueError, match=">= 0"):
        internal_message(A, -1)


def test_external_envelope_layout_and_signature() -> None:
    msgs = [OutMessage(internal_message(A, 10**9), 0), OutMessage(internal_message(B, 1), 1)]
    body = external_body(NODE_SEED, seqno=3, valid_until=1_700_000_000, messages=msgs, subwallet_id=0)
    s = Slice.from_cell(body)
    signature = s.load_bytes(64)
    payload = s.to_cell()
    assert payload.hash == signing_payload(seqno=3, valid_until=1_700_000_000, messages=msgs).hash
    VerifyKey(public_key_from_seed(NODE_SEED)).verify(payload.hash, signature)
    assert (s.load_uint(32), s.load_uint(32), s.load_uint(32), s.load_uint(8), s.load_uint(8)) == (
        0,
        1_700_000_000,
        3,
        0,
        1,
    )
    assert s.remaining_bits == 0 and s.remaining_refs == 2
    ext = MessageAny.deserialize(external_message(A, body, state_init=block_body()).begin_parse())
    assert ext.is_external and ext.info.dest == A and ext.init is not None and ext.body.hash == body.hash
    with pytest.raises(ValueError, match=r"1\.\.4"):
        signing_payload(seqno=0, valid_until=0, messages=msgs * 3)
    with pytest.raises(ValueError, match="32-byte"):
        external_body(b"x", seqno=0, valid_until=0, messages=msgs)


def test_owner_send_message_body() -> None:
    inner = internal_message(A, 1)
    body = owner_send_message_body(inner, mode=3, query_id=5)
    s = body.begin_parse()
    assert (s.load_uint(32), s.load_uint(64), s.load_uint(8)) == (Op.OWNER_WALLET_SEND_MESSAGE, 5, 3)
    assert s.load_ref() == inner
