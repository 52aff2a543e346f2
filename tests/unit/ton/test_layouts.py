"""Round trips and known bit layouts of the COCOON cell codecs (cocoon-protocol.md §6-§10)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell

from cocoon_dev.ton.root_ops import (
    add_hash_body,
    change_params_body,
    change_price_body,
    register_proxy_body,
    update_proxy_body,
)
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.codes import cocoon_proxy_code, cocoon_worker_code
from cocoon_operator.ton.messages import (
    DoNotProcess,
    Excesses,
    OwnerWorkerRegister,
    Payout,
    PayoutRequest,
    ProxySaveState,
    SignedPayout,
    TextCommand,
    UnknownBody,
    WorkerProxyPayout,
    WorkerProxyRequest,
    body_query_id,
    parse_body,
    text_body,
)
from cocoon_operator.ton.ops import Op
from cocoon_operator.ton.storage import (
    Params,
    ProxyDesc,
    ProxyStorage,
    RootStorage,
    WalletStorage,
    WorkerStorage,
)
from cocoon_operator.ton.tlb import Layout

A = Address((0, bytes([1]) * 32))
B = Address((0, bytes([2]) * 32))
KEY = bytes(range(32))


def bits(cell: Cell) -> str:
    return str(cell.bits.to01())


def u(value: int, n: int) -> str:
    return format(value, f"0{n}b")


def uint32(value: int) -> str:
    return u(value, 32)


def coins(value: int) -> str:
    length = (value.bit_length() + 7) // 8
    return u(length, 4) + (u(value, length * 8) if length else "")


def addr_bits(address: Address) -> str:
    return "100" + u(address.wc & 0xFF, 8) + "".join(u(b, 8) for b in address.hash_part)


def test_params_known_vector() -> None:
    """The deploy-script defaults, bit by bit, written out independently of the codec."""
    expected = (
        u(3, 8)  # struct_version
        + u(0, 32)  # params_version
        + u(17, 32)  # unique_id
        + "1"  # is_test
        + coins(2)
        + coins(1)
        + u(10000, 32) * 4  # prompt, cached, completion, reasoning multipliers
        + u(86400, 32) * 2  # proxy/client delay before close
        + coins(10**9) * 2  # min proxy/client stake
        + "000"  # no proxy/worker/client code
    )
    cell = Params().to_cell()
    assert bits(cell) == expected
    assert len(expected) == 364 and not cell.refs
    assert Params.from_cell(cell) == Params()


def test_params_with_code_round_trip_and_views() -> None:
    params = Params(
        params_version=5,
        price_per_token=20,
        worker_fee_per_token=7,
        is_test=False,
        proxy_sc_code=cocoon_proxy_code(),
        worker_sc_code=cocoon_worker_code(),
    )
    cell = params.to_cell()
    assert bits(cell).endswith("110") and len(cell.refs) == 2
    assert Params.from_cell(cell) == params
    assert bits(params.without_code().to_cell()).endswith("000")
    proxy_view = params.for_proxy().to_cell()
    assert bits(proxy_view).endswith("010") and proxy_view.refs == [cocoon_worker_code()]
    assert params.proxy_part_per_token == 13


def test_params_rejects_other_versions_and_trailing_data() -> None:
    cell = Params().to_cell()
    with pytest.raises(LayoutError, match="unexpected params struct version: 4"):
        Params.from_cell(
            Builder().store_uint(4, 8).store_cell(cell.begin_parse().skip_bits(8).to_cell()).end_cell()
        )
    # a v3 body labelled v2 has the two v3 multipliers too many: trailing data, as the runner says
    with pytest.raises(LayoutError, match="trailing"):
        Params.from_cell(
            Builder().store_uint(2, 8).store_cell(cell.begin_parse().skip_bits(8).to_cell()).end_cell()
        )
    with pytest.raises(LayoutError, match="unexpected params struct version: 7"):
        Params(struct_version=7)
    with pytest.raises(LayoutError, match="trailing"):
        Params.from_cell(Builder().store_cell(cell).store_bit(0).end_cell())
    with pytest.raises(LayoutError, match="price_per_token"):
        Params(price_per_token=-1).to_cell()
    with pytest.raises(LayoutError, match="uint32"):
        Params(unique_id=1 << 32).to_cell()


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_params_layout_of_each_struct_version(version: int) -> None:
    """The runner's layouts: v1 adds the stakes, v2 cached+reasoning, v3 prompt+completion."""
    p = Params(
        struct_version=version,
        params_version=5,
        prompt_tokens_price_multiplier=11_000 if version >= 3 else 10_000,
        cached_tokens_price_multiplier=2_500 if version >= 2 else 10_000,
        completion_tokens_price_multiplier=20_000 if version >= 3 else 10_000,
        reasoning_tokens_price_multiplier=5_000 if version >= 2 else 10_000,
        min_proxy_stake=3 * 10**9 if version >= 1 else 10**9,
    )
    head = u(version, 8) + u(5, 32) + u(17, 32) + "1" + coins(2) + coins(1)
    mults = {
        0: "",
        1: "",
        2: u(2_500, 32) + u(5_000, 32),
        3: u(11_000, 32) + u(2_500, 32) + u(20_000, 32) + u(5_000, 32),
    }[version]
    stakes = coins(3 * 10**9) + coins(10**9) if version >= 1 else ""
    assert bits(p.to_cell()) == head + mults + u(86_400, 32) * 2 + stakes + "000"
    assert Params.from_cell(p.to_cell()) == p
    assert Params.from_cell(p.to_cell()).to_cell().hash == p.to_cell().hash


def test_proxy_desc_forms() -> None:
    one = ProxyDesc("1.2.3.4:5")
    assert bits(one.to_cell()) == "0" + u(9, 7) + "".join(u(b, 8) for b in b"1.2.3.4:5")
    two = ProxyDesc("1.2.3.4:5 6.7.8.9:10")
    assert (two.worker_endpoint, two.client_endpoint) == ("1.2.3.4:5", "6.7.8.9:10")
    assert (one.worker_endpoint, one.client_endpoint) == ("1.2.3.4:5", "1.2.3.4:5")
    with pytest.raises(LayoutError, match="longer than 127"):
        ProxyDesc("x" * 128).to_cell()


def test_root_storage_round_trip() -> None:
    storage = RootStorage(
        owner_address=A,
        params=Params(worker_sc_code=cocoon_worker_code(), proxy_sc_code=cocoon_proxy_code()),
        version=9,
        proxy_hashes=frozenset({bytes([3]) * 32}),
        registered_proxies={1: ProxyDesc("1.2.3.4:5"), 7: ProxyDesc("1.2.3.4:5 1.2.3.4:6")},
        last_proxy_seqno=7,
        worker_hashes=frozenset({bytes([4]) * 32, bytes([5]) * 32}),
        model_hashes=frozenset(),
    )
    cell = storage.to_cell()
    assert bits(cell) == addr_bits(A) + u(9, 32) and len(cell.refs) == 2
    assert RootStorage.from_cell(cell) == storage
    empty = RootStorage(owner_address=A, params=Params())
    data = empty.data_cell()
    assert bits(data) == "0" + "0" + u(0, 32) + "0" + "0"  # four empty HashmapE + last_proxy_seqno
    with pytest.raises(LayoutError, match="trailing"):
        RootStorage.from_cell(Builder().store_cell(cell).store_bit(1).end_cell())


def test_worker_proxy_wallet_storage_round_trips() -> None:
    worker = WorkerStorage(A, B, KEY, Params(), state=2, tokens=12345)
    cell = worker.to_cell()
    assert bits(cell) == addr_bits(A) + addr_bits(B) + "".join(u(b, 8) for b in KEY) + "10" + u(12345, 64)
    assert WorkerStorage.from_cell(cell) == worker
    with pytest.raises(LayoutError, match="without_code"):
        WorkerStorage(A, B, KEY, Params(worker_sc_code=cocoon_worker_code())).to_cell()

    proxy = ProxyStorage(
        A, KEY, B, Params(worker_sc_code=cocoon_worker_code()), state=1, balance=7, stake=9, unlock_ts=100
    )
    assert ProxyStorage.from_cell(proxy.to_cell()) == proxy
    with pytest.raises(LayoutError, match="for_proxy"):
        ProxyStorage(A, KEY, B, Params(proxy_sc_code=cocoon_proxy_code())).to_cell()

    wallet = WalletStorage(public_key=KEY, owner_address=A, seqno=3, status=1)
    cell = wallet.to_cell()
    assert bits(cell) == u(3, 32) + u(0, 32) + "".join(u(b, 8) for b in KEY) + u(1, 32) + addr_bits(A)
    assert WalletStorage.from_cell(cell) == wallet and wallet.blocked


def test_payout_request_layout_and_parse() -> None:
    inner = SignedPayout(query_id=5, new_tokens=1000, expected_my_address=A)
    assert bits(inner.to_cell()) == u(0xA040AD28, 32) + u(5, 64) + u(1000, 64) + addr_bits(A)
    request = PayoutRequest(query_id=5, send_excesses_to=B, signature=bytes(64), inner=inner.to_cell())
    cell = request.to_cell()
    assert bits(cell) == u(0xA040AD28, 32) + u(5, 64) + addr_bits(B) + "0" * 512
    assert cell.refs == [inner.to_cell()]
    assert parse_body(cell) == request
    assert PayoutRequest.from_cell(cell).payout == inner
    last = SignedPayout(
        query_id=5, new_tokens=1, expected_my_address=A, op=Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED
    )
    assert SignedPayout.from_cell(last.to_cell()) == last
    with pytest.raises(LayoutError, match="not a payout request"):
        SignedPayout(query_id=1, new_tokens=1, expected_my_address=A, op=Op.PAYOUT).to_cell()


def test_worker_proxy_request_envelope() -> None:
    """The official proxy runner asserts this envelope exactly (§9.3 quirk): 430 bits + Maybe ref."""
    payload = WorkerProxyPayout(worker_part=10, proxy_part=20, send_excesses_to=B)
    request = WorkerProxyRequest(query_id=9, owner_address=A, state=0, tokens=30, payload=payload)
    cell = request.to_cell()
    assert bits(cell) == u(0x4D725D2C, 32) + u(9, 64) + addr_bits(A) + "00" + u(30, 64) + "1"
    assert bits(cell.refs[0]) == u(0x08E7D036, 32) + coins(10) + coins(20) + addr_bits(B)
    assert parse_body(cell) == request
    ping = WorkerProxyRequest(query_id=9, owner_address=A, state=2, tokens=30)
    assert len(bits(ping.to_cell())) == 430 and parse_body(ping.to_cell()) == ping


def test_parse_body_dispatch() -> None:
    assert parse_body(None) is None
    assert parse_body(Cell.empty()) is None
    assert parse_body(Excesses(3).to_cell()) == Excesses(3)
    assert parse_body(Payout(4).to_cell()) == Payout(4)
    assert bits(Payout(4).to_cell()) == u(0xC59A7CD3, 32) + u(4, 64)
    register = OwnerWorkerRegister(5, A)
    assert parse_body(register.to_cell()) == register
    commit = DoNotProcess(6, ProxySaveState(seqno=-1, unique_hash=KEY))
    assert bits(commit.to_cell()) == u(0x9A1247C0, 32) + u(6, 64) + u(0x53109C0F, 32) + "1" * 32 + "".join(
        u(b, 8) for b in KEY
    )
    assert parse_body(commit.to_cell()) == commit
    assert parse_body(DoNotProcess(7).to_cell()) == DoNotProcess(7)
    assert parse_body(text_body("w")) == TextCommand("w")
    unknown = Builder().store_uint(0xDEADBEEF, 32).end_cell()
    assert parse_body(unknown) == UnknownBody(0xDEADBEEF, unknown)
    short = Builder().store_uint(1, 8).end_cell()
    assert parse_body(short) == UnknownBody(None, short)
    assert body_query_id(Payout(77).to_cell()) == 77 and body_query_id(short) is None
    with pytest.raises(LayoutError, match="trailing"):
        parse_body(Builder().store_cell(Excesses(1).to_cell()).store_bit(1).end_cell())


def test_root_op_bodies() -> None:
    h = bytes([9]) * 32
    assert bits(add_hash_body("model", h, query_id=1)) == u(0xC146134D, 32) + u(1, 64) + "".join(
        u(b, 8) for b in h
    )
    assert bits(add_hash_body("worker", h, add=False)).startswith(u(0x8D94A79A, 32))
    with pytest.raises(ValueError, match="hash kind"):
        add_hash_body("client", h)
    with pytest.raises(LayoutError, match="32 bytes"):
        add_hash_body("proxy", b"short")
    assert bits(register_proxy_body(ProxyDesc("a:1"))) == u(0x927C7CB5, 32) + u(0, 64) + "0" + u(
        3, 7
    ) + "".join(u(b, 8) for b in b"a:1")
    assert bits(update_proxy_body(2, ProxyDesc("a:1"))).startswith(u(0x9C7924BA, 32) + u(0, 64) + u(2, 32))
    assert bits(change_price_body(2, 1)) == u(0xC52ED8D4, 32) + u(0, 64) + coins(2) + coins(1)
    # change_params' payload, field by field in order: a value and how it is written
    payload: dict[str, tuple[int, Callable[[int], str]]] = {
        "price_per_token": (2, coins),
        "worker_fee_per_token": (1, coins),
        "proxy_delay_before_close": (3, uint32),
        "client_delay_before_close": (4, uint32),
        "min_proxy_stake": (5, coins),
        "min_client_stake": (6, coins),
    }
    body = change_params_body(**{name: value for name, (value, _) in payload.items()})
    assert bits(body) == u(0x022FA189, 32) + u(0, 64) + "".join(write(v) for v, write in payload.values())


def test_tlb_schema_is_checked_when_defined() -> None:
    """A layout that names an unknown type, or has text that is no `name:Type`, fails at import."""
    with pytest.raises(ValueError, match="unknown TL-B type 'Foo'"):
        Layout("x a:Foo")
    with pytest.raises(ValueError, match="unknown TL-B type 'NoSuchStruct'"):
        Layout("x a:^NoSuchStruct")
    with pytest.raises(ValueError, match="cannot read 'junk'"):
        Layout("x a:uint8 junk")
    assert Layout(f"payout#{Op.PAYOUT:08x} query_id:uint64").tag == Op.PAYOUT
