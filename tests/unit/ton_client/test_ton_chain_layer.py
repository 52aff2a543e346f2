"""Chain layer logic that needs no chain: root parsing and pre-flight, payout recognition and
matching, treasury key parsing, and the client's timeout/retry/ChainUnavailable behaviour."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from typing import Any

import pytest
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from tests.chain.helpers import MemoryIntentStore

from cocoon_operator.money import funding
from cocoon_operator.money.funding import FundingIntent, TreasuryKey
from cocoon_operator.money.transfer import Resolution, TransferProgress, TransferState
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import (
    AccountState,
    ChainClient,
    ChainSettings,
    ChainUnavailable,
    MessageView,
    TxView,
)
from cocoon_operator.ton.codes import cocoon_root_code
from cocoon_operator.ton.messages import Excesses, Payout
from cocoon_operator.ton.payouts import match_payout, payout_of
from cocoon_operator.ton.root import (
    PreflightReason,
    RootUnavailable,
    decode_image_hash,
    params_rollover,
    parse_root,
    preflight,
)
from cocoon_operator.ton.storage import Params, ProxyDesc, RootStorage

MODEL = "Qwen/Qwen3-8B@" + "b" * 40 + ":" + "7" * 64
IMAGE = hashlib.sha256(b"image").digest()
OWNER = Address((0, b"\x11" * 32))
ROOT = "0:" + "22" * 32
PROXY = "0:" + "33" * 32


def root_cell(*, proxies: dict[int, ProxyDesc] | None = None, is_test: bool = True, version: int = 9) -> Cell:
    return RootStorage(
        owner_address=OWNER,
        params=Params(params_version=4, is_test=is_test, price_per_token=20, worker_fee_per_token=7),
        version=version,
        proxy_hashes=frozenset({hashlib.sha256(b"proxy").digest()}),
        registered_proxies=proxies if proxies is not None else {1: ProxyDesc("1.2.3.4:11001 1.2.3.4:11002")},
        last_proxy_seqno=1,
        worker_hashes=frozenset({IMAGE}),
        model_hashes=frozenset({hashlib.sha256(MODEL.encode()).digest()}),
    ).to_cell()


def test_parse_root() -> None:
    root = parse_root(ROOT, root_cell(), balance=123)
    assert (root.params_version, root.is_test, root.version, root.balance) == (4, True, 9, 123)
    assert (root.price_per_token, root.worker_fee_per_token) == (20, 7)
    assert root.owner_address == raw_address(OWNER)
    assert root.has_model(MODEL) and not root.has_model(MODEL + "x")
    assert root.has_worker_hash(IMAGE)
    (proxy,) = root.registered_proxies
    assert (proxy.seqno, proxy.worker_endpoint, proxy.client_endpoint) == (
        1,
        "1.2.3.4:11001",
        "1.2.3.4:11002",
    )


def test_parse_root_rejects_other_layouts() -> None:
    with pytest.raises(RootUnavailable, match="layout"):
        parse_root(ROOT, Cell.empty())
    data = root_cell().begin_parse()
    owner, version = data.load_address(), data.load_uint(32)
    rest, params = data.load_ref(), data.load_ref().begin_parse()
    params.skip_bits(8)
    v4 = Builder().store_uint(4, 8).store_slice(params).end_cell()
    bad = Builder().store_address(owner).store_uint(version, 32).store_ref(rest).store_ref(v4).end_cell()
    with pytest.raises(RootUnavailable, match="unexpected params struct version: 4"):
        parse_root(ROOT, bad)


@pytest.mark.parametrize(
    ("model", "image", "is_test", "proxies", "reasons"),
    [
        (MODEL, IMAGE, True, None, []),
        (MODEL, None, True, None, []),
        (MODEL + "0", IMAGE, True, None, [PreflightReason.MODEL_NOT_ALLOWED]),
        (MODEL, os.urandom(32), True, None, []),  # test mode: nobody checks the image hash
        (
            MODEL,
            None,
            False,
            None,
            [PreflightReason.IMAGE_HASH_NOT_ALLOWED, PreflightReason.NETWORK_MISMATCH],
        ),
        (
            MODEL,
            os.urandom(32),
            False,
            None,
            [PreflightReason.IMAGE_HASH_NOT_ALLOWED, PreflightReason.NETWORK_MISMATCH],
        ),
        (MODEL, base64.b64encode(IMAGE).decode(), True, None, []),
        (MODEL, IMAGE.hex(), True, None, []),
        (MODEL, IMAGE, False, None, [PreflightReason.NETWORK_MISMATCH]),
        (MODEL, IMAGE, True, {}, [PreflightReason.NO_PROXIES]),
        (
            "other@" + "0" * 40 + ":" + "0" * 64,
            os.urandom(32),
            False,
            {},
            [
                PreflightReason.MODEL_NOT_ALLOWED,
                PreflightReason.IMAGE_HASH_NOT_ALLOWED,
                PreflightReason.NETWORK_MISMATCH,
                PreflightReason.NO_PROXIES,
            ],
        ),
    ],
)
def test_preflight_table(
    model: str,
    image: Any,
    is_test: bool,
    proxies: dict[int, ProxyDesc] | None,
    reasons: list[PreflightReason],
) -> None:
    root = parse_root(ROOT, root_cell(proxies=proxies))
    problems = preflight(root, model, image, is_test)
    assert [p.reason for p in problems] == reasons
    for p in problems:
        assert model in p.message and ROOT in p.message


def test_unknown_contract_code_moves_nothing_until_trusted() -> None:
    stranger = Cell.empty().hash
    root = parse_root(ROOT, root_cell(), code_hash=stranger)
    (problem,) = preflight(root, MODEL, IMAGE, True)
    assert problem.reason is PreflightReason.UNKNOWN_CONTRACT_CODE and problem.is_spec_problem
    assert f"root {stranger.hex()}" in problem.message and "trustedCodeHashes" in problem.message
    assert preflight(root, MODEL, IMAGE, True, trusted_code_hashes=[stranger.hex().upper()]) == []
    official = parse_root(ROOT, root_cell(), code_hash=cocoon_root_code().hash)
    assert preflight(official, MODEL, IMAGE, True) == []


def test_image_hash_forms() -> None:
    assert decode_image_hash(base64.b64encode(IMAGE).decode()) == IMAGE
    with pytest.raises(ValueError, match="32 bytes"):
        decode_image_hash(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="neither"):
        decode_image_hash("not a hash!")


def test_params_rollover() -> None:
    root = parse_root(ROOT, root_cell())
    assert params_rollover(root, [4, 3, 3, 1]) == [1, 3]
    assert params_rollover(root, [4]) == []


# --------------------------------------------------------------------------------------------- payouts


def tx(
    lt: int, *, src: str | None = PROXY, body: Cell | None = None, value: int = 700, bounced: bool = False
) -> TxView:
    msg = MessageView(
        src=src, dest=raw_address(OWNER), value=value, bounced=bounced, body=body, external=src is None
    )
    return TxView(
        account=raw_address(OWNER),
        lt=lt,
        hash=f"{lt:064x}",
        utime=1000 + lt,
        in_msg=msg,
        out_msgs=(),
        aborted=False,
        exit_code=0,
        prev_lt=lt - 1,
        prev_hash=b"\x00" * 32,
    )


def test_payout_recognition() -> None:
    payout = payout_of(tx(5, body=Payout(42).to_cell()))
    assert payout is not None and (payout.source, payout.value, payout.query_id, payout.lt) == (
        PROXY,
        700,
        42,
        5,
    )
    assert payout_of(tx(5, body=Excesses(42).to_cell())) is None
    assert payout_of(tx(5, body=Payout(42).to_cell(), bounced=True)) is None
    assert payout_of(tx(5, src=None, body=Payout(42).to_cell())) is None
    assert payout_of(tx(5, body=None)) is None
    assert payout_of(tx(5, body=Cell.empty())) is None


def test_payout_matching() -> None:
    payouts = [
        p for p in (payout_of(tx(lt, body=Payout(lt).to_cell(), value=lt * 7)) for lt in (3, 5, 8)) if p
    ]
    assert match_payout(payouts, proxy_contract=PROXY, query_id=5) == payouts[1]
    assert match_payout(payouts, proxy_contract=PROXY, tokens=8, fee_per_token=7) == payouts[2]
    assert match_payout(payouts, proxy_contract=PROXY, query_id=5, after_lt=5) is None
    assert match_payout(payouts, proxy_contract="0:" + "44" * 32, query_id=5) is None
    assert match_payout(payouts, proxy_contract=PROXY, after_lt=3) == payouts[1]


# --------------------------------------------------------------------------------------------- treasury


def test_treasury_key_from_secret_data_never_shows_the_key() -> None:
    seed = os.urandom(32)
    key = TreasuryKey.from_secret_data({"privateKey": seed.hex(), "version": "v5r1", "walletId": "7"})
    assert key.private_key.get_secret_value() == seed and key.version == "v5r1" and key.wallet_id == 7
    assert seed.hex() not in repr(key) and seed.hex() not in str(key.model_dump())
    encoded = {"privateKey": base64.b64encode(base64.b64encode(seed))}
    assert TreasuryKey.from_secret_data(encoded, decoded=False).private_key.get_secret_value() == seed


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "mnemonic or privateKey"),
        ({"privateKey": "zz"}, "privateKey"),
        ({"privateKey": "00" * 16}, "privateKey"),
        ({"mnemonic": "not a valid mnemonic"}, "mnemonic"),
        ({"privateKey": "00" * 32, "version": "v3"}, "version"),
    ],
)
def test_treasury_key_errors_name_the_field(data: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        TreasuryKey.from_secret_data(data)
    for value in data.values():
        if len(value) > 8:
            assert value not in str(info.value)


def funding_intent() -> FundingIntent:
    return FundingIntent(
        treasury=ROOT,
        wallet=PROXY,
        treasury_seqno=3,
        valid_until=100,
        amount_nano=5,
        target_nano=10,
        treasury_last_lt=9,
        created_at=1,
    )


def test_funding_intent_json_is_camel_case() -> None:
    intent = funding_intent()
    data = intent.model_dump(mode="json", by_alias=True)
    assert data["treasurySeqno"] == 3 and FundingIntent.model_validate(data) == intent


@pytest.mark.parametrize("state", [s for s in TransferState if s is not TransferState.DEAD])
def test_every_open_top_up_state_has_a_message(state: TransferState) -> None:
    """DEAD closes the intent; every other state the follow loop ends in is said in words."""
    status, template = funding._OUTCOMES[state]
    progress = TransferProgress(
        sent_tx="ab" * 32 if state in (TransferState.SENT, TransferState.SETTLED) else None
    )
    message = template.format(
        i=funding_intent(), res=Resolution(state, progress, detail="scan gap"), where=""
    )
    assert status.value.startswith("TopUp") and "5 nanoTON" in message and "{" not in message


class _WalletOnlyChain:
    """A ChainClient stand-in for a wallet above its floor: answers only checked_state of it."""

    def __init__(self, balance: int) -> None:
        self.balance, self.reads = balance, 0

    @property
    def backend(self) -> Any:
        raise AssertionError("Treasury.open read the chain")

    async def checked_state(self, address: Any) -> AccountState:
        self.reads += 1
        return AccountState(address=raw_address(address), status="active", balance=self.balance)


async def test_a_funding_check_that_pays_nothing_neither_reads_the_treasury_nor_waits_for_its_lock() -> None:
    """Opening a treasury builds its wallet without a chain read (pytoniq's constructor would make an
    uncounted getAccountState on one peer), and a wallet above its floor is answered while another
    CocoonNode's top-up holds the treasury's lock."""
    chain: Any = _WalletOnlyChain(balance=3 * 10**9)
    treasury = await funding.Treasury.open(chain, TreasuryKey.from_secret_data({"privateKey": "11" * 32}))
    lock = asyncio.Lock()
    async with lock:  # a top-up from this treasury is in progress
        result = await asyncio.wait_for(
            funding.ensure_funded(
                chain, treasury, PROXY, floor_nano=2 * 10**9, target_nano=5 * 10**9,
                store=MemoryIntentStore(), exclusive=lock,
            ),
            timeout=5,
        )  # fmt: skip
    assert result.status is funding.FundingStatus.ABOVE_FLOOR and chain.reads == 1


# ------------------------------------------------------------------------------------------ client


class FlakyBackend:
    """Answers after `failures` connection errors; counts calls."""

    def __init__(self, failures: int, *, hang: bool = False) -> None:
        self.failures, self.hang, self.calls = failures, hang, 0

    async def run_get_method(self, address: Any, method: str, stack: list[Any]) -> list[Any]:
        self.calls += 1
        if self.hang:
            await asyncio.sleep(10)
        if self.calls <= self.failures:
            raise ConnectionError("peer went away")
        return [7]


async def started(backend: Any, **settings: Any) -> ChainClient:
    client = ChainClient(backend, ChainSettings(retry_delay_s=0, **settings))
    client._started = True  # the fake needs no connect
    return client


async def test_retries_are_bounded_and_counted() -> None:
    backend = FlakyBackend(failures=2)
    client = await started(backend, retries=3)
    assert await client.run_get_method(PROXY, "seqno") == [7]
    assert (client.round_trips.calls, client.round_trips.failures, client.round_trips.retries) == (3, 2, 2)
    assert client.round_trips.by_method == {"runSmcMethod:seqno": 3}

    client = await started(FlakyBackend(failures=5), retries=2)
    with pytest.raises(ChainUnavailable, match="after 2 attempts"):
        await client.run_get_method(PROXY, "seqno")


async def test_per_call_timeout() -> None:
    client = await started(FlakyBackend(failures=0, hang=True), retries=2, call_timeout_s=0.05)
    with pytest.raises(ChainUnavailable, match="TimeoutError"):
        await client.run_get_method(PROXY, "seqno")


def test_config_without_liteservers_is_refused() -> None:
    with pytest.raises(ChainUnavailable, match="no liteservers"):
        ChainClient.from_config({"liteservers": []})
