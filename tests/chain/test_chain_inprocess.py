"""LocalChain used in process as a pytoniq provider: fees, bounces, duplicates, snapshots, blocks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytoniq import Contract
from pytoniq.liteclient.client import LiteServerError, RunGetMethodError
from pytoniq_core import Address, begin_cell

from cocoon_dev.ton.chain import ExternalNotAccepted, LocalChain, LocalChainError
from tests.chain.wallets import TON, non_bounceable, v4_transfer_boc, wallet_v4, wallet_v5

pytestmark = [pytest.mark.chain, pytest.mark.timeout(60)]


@pytest.fixture
def chain(mainnet_config_b64: str) -> LocalChain:
    return LocalChain(config_b64=mainnet_config_b64)


async def test_fees_match_the_mainnet_config(chain: LocalChain) -> None:
    # Figures from the shared docs (ton-devnet.md §5), one second between credit and deploy.
    v4 = await wallet_v4(chain, "fees-v4")
    v5 = await wallet_v5(chain, "fees-v5")
    await chain.faucet(v4.address, 10 * TON)
    await chain.faucet(v5.address, 10 * TON)
    await chain.advance(1)
    await v4.send_init_external()
    await v5.send_init_external()
    assert chain.balance(v4.address) == 9_995_460_799
    assert chain.balance(v5.address) == 9_995_069_199


async def test_faucet_credits_an_uninitialised_account(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "faucet")
    result = await chain.faucet(v4.address, 7 * TON)
    assert chain.balance(v4.address) == 7 * TON
    assert chain.status(v4.address) == "uninit"
    assert result.first.exit_code is None  # no code yet: compute phase skipped
    state = await chain.get_account_state(v4.address)
    assert state.balance == 7 * TON and state.is_uninitialized()
    with pytest.raises(LocalChainError, match="amount"):
        await chain.faucet(v4.address, 0)


async def test_bounce_from_a_missing_account_returns_the_value(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "bouncer")
    await chain.faucet(v4.address, 5 * TON)
    await v4.send_init_external()
    ghost = Address(Address((0, b"\x42" * 32)).to_str(is_bounceable=True))
    before = chain.balance(v4.address)
    await v4.transfer(ghost, 2 * TON)  # bounceable to an account that does not exist
    assert chain.balance(ghost) == 0
    latest = chain.transactions(v4.address, 1)[0].transaction
    assert latest.in_msg.info.bounced is True
    assert latest.in_msg.info.src == ghost
    spent = before - chain.balance(v4.address)
    assert 0 < spent < TON // 100  # only fees are lost, the 2 TON came back


async def test_forged_sender_and_contract_wrapper(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "wrapped")
    await chain.faucet(v4.address, 3 * TON)
    await v4.send_init_external()
    contract = await Contract.from_address(provider=chain, address=v4.address)
    assert contract.is_active
    assert (await contract.run_get_method("seqno"))[0] == 1
    with pytest.raises(RunGetMethodError):
        await contract.run_get_method("no_such_method")
    # an injected internal message from any sender (contract tests use this for owner ops)
    result = await chain.send_internal(
        v4.address, TON, src=Address((0, b"\x07" * 32)), body=begin_cell().end_cell()
    )
    assert result.first.success and result.first.address == f"0:{v4.address.hash_part.hex()}"


async def test_rejected_external_changes_nothing(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "reject")
    await chain.faucet(v4.address, 3 * TON)
    await v4.send_init_external()
    stale = v4_transfer_boc(v4, 0, non_bounceable(Address((0, b"\x01" * 32))), TON)  # wrong seqno
    before = chain.snapshot()
    with pytest.raises(ExternalNotAccepted) as exc:
        await chain.raw_send_message(stale)
    assert isinstance(exc.value, LiteServerError)
    assert exc.value.exit_code == 33  # V4R2: wrong seqno
    after = chain.snapshot()
    assert after["accounts"] == before["accounts"] and after["seqno"] == before["seqno"]
    with pytest.raises(LocalChainError, match="message"):
        await chain.send_message(b"not a boc")


async def test_duplicates_are_suppressed_but_replays_refused(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "dupes")
    sink = non_bounceable((await wallet_v5(chain, "dupes-sink")).address)
    await chain.faucet(v4.address, 5 * TON)
    await v4.send_init_external()
    boc = v4_transfer_boc(v4, 1, sink, TON)
    # four copies in flight at once, as LiteBalancer sends them
    results = await asyncio.gather(*(chain.send_message(boc) for _ in range(4)))
    assert sum(not r.duplicate for r in results) == 1
    assert chain.balance(sink) == TON
    with pytest.raises(ExternalNotAccepted):  # sent again after it was included: a replay
        await chain.send_message(boc)
    assert chain.balance(sink) == TON


async def test_transactions_newest_first_and_paging(chain: LocalChain) -> None:
    v4 = await wallet_v4(chain, "paging")
    for _ in range(5):
        await chain.faucet(v4.address, TON)
    txs = await chain.get_transactions(v4.address, 3)
    assert len(txs) == 3 and txs[0].lt > txs[1].lt > txs[2].lt
    older = await chain.get_transactions(
        v4.address, 10, from_lt=txs[2].prev_trans_lt, from_hash=txs[2].prev_trans_hash
    )
    assert len(older) == 2 and older[0].lt < txs[2].lt
    assert [t.lt for t in await chain.get_transactions(v4.address, 10, to_lt=txs[1].lt)] == [txs[0].lt]


async def test_snapshot_and_restore_in_memory_and_file(chain: LocalChain, tmp_path: Path) -> None:
    v4 = await wallet_v4(chain, "snap")
    await chain.faucet(v4.address, 4 * TON)
    snap = chain.snapshot()
    path = chain.save(tmp_path / "chain.json")
    await v4.send_init_external()
    await chain.faucet(v4.address, TON)
    height = chain.seqno
    chain.restore(snap)
    assert chain.status(v4.address) == "uninit" and chain.balance(v4.address) == 4 * TON
    assert chain.seqno > height  # height keeps moving forward for connected clients
    assert len(chain.transactions(v4.address)) == 1
    await v4.send_init_external()  # the same external works again on the restored state
    assert chain.status(v4.address) == "active"

    reloaded = LocalChain.load(path, config_b64=chain.config_b64)
    assert reloaded.balance(v4.address) == 4 * TON
    assert reloaded.lt == snap["lt"]
    with pytest.raises(LocalChainError, match="version"):
        chain.restore({"version": 99})


async def test_block_interval_mode_queues_externals(mainnet_config_b64: str) -> None:
    chain = LocalChain(config_b64=mainnet_config_b64, block_interval_ms=100)
    await chain.start()
    try:
        v4 = await wallet_v4(chain, "delay")
        await chain.faucet(v4.address, 3 * TON)
        height = chain.seqno
        result = await chain.send_message(v4_init_boc(v4))
        assert result.pending and not result.transactions
        assert chain.status(v4.address) == "uninit"
        again = await chain.send_message(v4_init_boc(v4))  # a copy while pending: not executed twice
        assert again.duplicate
        assert await chain.wait_seqno(height + 1, timeout=10)
        assert chain.status(v4.address) == "active"
        assert chain.pending_count == 0
        # a refused external is refused at send time, not silently dropped later
        with pytest.raises(ExternalNotAccepted):
            await chain.send_message(v4_transfer_boc(v4, 7, v4.address, TON))
        # switching back to instant mode
        await chain.set_block_interval(0)
        assert not (await chain.send_message(v4_transfer_boc(v4, 1, non_bounceable(v4.address), TON))).pending
    finally:
        await chain.stop()
    assert await chain.wait_seqno(chain.seqno + 1, timeout=0.05) is False


async def test_manual_clock(mainnet_config_b64: str) -> None:
    chain = LocalChain(config_b64=mainnet_config_b64, now=1_700_000_000)
    assert chain.now == 1_700_000_000
    assert await chain.advance(60) == 1_700_000_060
    with pytest.raises(LocalChainError, match="seconds"):
        await chain.advance(-1)


def v4_init_boc(wallet: object) -> bytes:
    from tests.chain.test_chain_liteserver import v4_init_boc as build

    return build(wallet)
