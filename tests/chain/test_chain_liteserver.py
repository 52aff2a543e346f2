"""pytoniq's own LiteClient and LiteBalancer against the local liteserver, over TCP, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pytoniq import LiteBalancer, LiteClient
from pytoniq.liteclient.client import LiteServerError, RunGetMethodError

from cocoon_dev.ton.chain import LocalChain
from tests.chain.wallets import TON, non_bounceable, v4_transfer_boc, wallet_v4, wallet_v5
from tests.fixtures.chain import LocalTon

pytestmark = [pytest.mark.chain, pytest.mark.timeout(60)]


@pytest.fixture(params=["client", "balancer"])
async def client(request: pytest.FixtureRequest, ton_chain: LocalTon) -> AsyncIterator[Any]:
    cfg = ton_chain.global_config
    if request.param == "client":
        lite = LiteClient.from_config(cfg, trust_level=2)
        await asyncio.wait_for(lite.connect(), 10)
        yield lite
        await lite.close()
    else:
        balancer = LiteBalancer.from_config(cfg, trust_level=2)
        await asyncio.wait_for(balancer.start_up(), 10)
        assert balancer.alive_peers_num == 1
        yield balancer
        await balancer.close_all()


async def test_connects_and_follows_blocks(client: Any, ton_chain: LocalTon) -> None:
    chain = ton_chain.chain
    info = await client.get_masterchain_info()
    assert info["last"]["seqno"] == chain.seqno
    await chain.advance(1)
    # the client's block updater long-polls waitMasterchainSeqno and must see the new block
    for _ in range(100):
        if client.last_mc_block is not None and client.last_mc_block.seqno == chain.seqno:
            break
        await asyncio.sleep(0.05)
    assert client.last_mc_block.seqno == chain.seqno
    assert (await client.get_time())["now"] == chain.now


async def test_wallets_deploy_and_transfer_over_tcp(client: Any, ton_chain: LocalTon) -> None:
    chain = ton_chain.chain
    v4 = await wallet_v4(client, "v4")
    v5 = await wallet_v5(client, "v5")
    await chain.faucet(v4.address, 10 * TON)
    await v4.update()
    assert v4.balance == 10 * TON
    await v4.send_init_external()
    assert await v4.get_seqno() == 1
    assert chain.status(v4.address) == "active"

    await v4.transfer(non_bounceable(v5.address), 3 * TON)
    await v5.update()
    assert v5.balance == 3 * TON  # delivered exactly once, even though LiteBalancer sends 4 copies
    await v5.send_init_external()
    assert chain.status(v5.address) == "active"
    await v5.transfer(v4.address, 1 * TON)
    assert await v5.get_seqno() == 2  # deploy (seqno 0) and one transfer

    txs = await client.get_transactions(v4.address, 10)
    assert len(txs) == 4  # faucet credit, deploy, transfer out, credit from v5 (newest first)
    assert [t.lt for t in txs] == sorted((t.lt for t in txs), reverse=True)
    assert txs[0].in_msg.info.src == v5.address
    assert all(t.description.aborted is False for t in txs[:3])


async def test_replayed_external_is_refused(client: Any, ton_chain: LocalTon) -> None:
    chain = ton_chain.chain
    v4 = await wallet_v4(client, "replay")
    await chain.faucet(v4.address, 5 * TON)
    await v4.send_init_external()
    boc = v4_transfer_boc(v4, 1, non_bounceable((await wallet_v5(client, "sink")).address), TON)
    assert await client.raw_send_message(boc) == 1
    before = chain.snapshot()
    with pytest.raises(LiteServerError, match="cannot apply external message to current state"):
        await client.raw_send_message(boc)
    assert chain.snapshot()["accounts"] == before["accounts"]  # a refusal changes nothing
    assert await v4.get_seqno() == 2


async def test_get_method_errors(client: Any, ton_chain: LocalTon) -> None:
    v4 = await wallet_v4(client, "getters")
    await ton_chain.chain.faucet(v4.address, 2 * TON)
    await v4.send_init_external()
    key = await client.run_get_method(v4.address, "get_public_key", [])
    assert key[0] == int.from_bytes(v4.public_key, "big")
    with pytest.raises(RunGetMethodError) as exc:
        await client.run_get_method(v4.address, "no_such_method", [])
    assert exc.value.exit_code == 11  # what the real TVM says for an unknown method id of V4R2


async def test_unknown_account_reads_as_nonexistent(client: Any) -> None:
    v4 = await wallet_v4(client, "never-funded")
    account, shard_account = await client.raw_get_account_state(v4.address)
    assert account is None and shard_account is None
    assert (await client.get_account_state(v4.address)).balance == 0


async def test_block_interval_mode_over_tcp(mainnet_config_b64: str) -> None:
    from cocoon_dev.ton.liteserver import LocalLiteServer

    chain = LocalChain(config_b64=mainnet_config_b64, block_interval_ms=150)
    async with LocalLiteServer(chain) as server:
        lite = LiteClient.from_config(server.global_config(), trust_level=2)
        await asyncio.wait_for(lite.connect(), 10)
        try:
            v4 = await wallet_v4(lite, "delayed")
            await chain.faucet(v4.address, 3 * TON)
            seqno_at_send = chain.seqno
            assert await lite.raw_send_message(v4_init_boc(v4)) == 1
            assert chain.status(v4.address) == "uninit"  # accepted, not yet in a block
            assert chain.pending_count == 1
            assert await chain.wait_seqno(seqno_at_send + 1, timeout=10)
            assert chain.status(v4.address) == "active"
            for _ in range(100):  # the client's long poll wakes on the sealed block
                if lite.last_mc_block.seqno > seqno_at_send:
                    break
                await asyncio.sleep(0.05)
            assert lite.last_mc_block.seqno > seqno_at_send
            assert await v4.get_seqno() == 1
        finally:
            await lite.close()


def v4_init_boc(wallet: Any) -> bytes:
    boc: bytes = (
        wallet.create_external_msg(
            dest=wallet.address,
            state_init=wallet.state_init,
            body=wallet.raw_create_transfer_msg(
                private_key=wallet.private_key, seqno=0, wallet_id=wallet.wallet_id, messages=[]
            ),
        )
        .serialize()
        .to_boc()
    )
    return boc


async def test_config_over_tcp(client: Any) -> None:
    config = await client.get_config_all()
    assert config[8].version == 12  # mainnet config fixture: global version 12
    params = await client.get_config_params([8, 19])
    assert set(params) == {8, 19}
    assert params[19].load_int(32) == -239  # global id
