"""What the money tests on the local chain share: the funding record in memory, the treasury's key,
and what the runner does on chain (register a worker contract, submit a claim voucher)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pytoniq_core.boc.address import Address

from cocoon_dev.ton.network import CocoonNetwork, cocoon_wallet_send, sign_voucher, worker_contract_for
from cocoon_dev.ton.vouchers import repack_send_excesses_to
from cocoon_operator.money.funding import (
    FundingIntent,
    FundingRecord,
    FundingResult,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.ton.addresses import (
    cocoon_wallet_state_init,
    public_key_from_seed,
    raw_address,
    worker_contract_state_init,
)
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.wallet_messages import OutMessage, internal_message
from cocoon_operator.ton.worker_contracts import read_worker_contract
from cocoon_operator.worker.runner_client import RunnerProxy, RunnerStats
from tests.chain.wallets import TON


class MemoryIntentStore:
    """The funding record in memory, through JSON as it is in the CocoonNode status."""

    def __init__(self) -> None:
        self.record = FundingRecord()
        self.saves = 0

    @property
    def intent(self) -> FundingIntent | None:
        return self.record.intent

    async def load(self) -> FundingRecord:
        return self.record

    async def save(self, record: FundingRecord) -> None:
        self.record = FundingRecord.from_status(json.loads(json.dumps(record.to_status())))
        self.saves += 1


class Crash(Exception):
    """Stands for the operator dying at the patched point."""


async def crash(*args: object, **kwargs: object) -> None:
    raise Crash


@asynccontextmanager
async def queued(chain: Any) -> AsyncIterator[None]:
    """A block every 60 s for the body: what is sent waits in the queue (a slow network) until the
    test seals a block; instant blocks again afterwards."""
    await chain.set_block_interval(60_000)
    try:
        yield
    finally:
        await chain.set_block_interval(0)


def treasury_key(network: CocoonNetwork) -> TreasuryKey:
    return TreasuryKey.from_secret_data({"privateKey": network.treasury.private_key, "version": "v4r2"})


async def fund(
    client: ChainClient, network: CocoonNetwork, wallet: str, *, floor_nano: int, target_nano: int
) -> FundingResult:
    """Top `wallet` up from the network's treasury, as the operator does, and wait for it to land."""
    treasury = await Treasury.open(client, treasury_key(network))
    return await ensure_funded(
        client,
        treasury,
        wallet,
        floor_nano=floor_nano,
        target_nano=target_nano,
        store=MemoryIntentStore(),
        confirm_wait_s=5,
    )


def cocoon_wallet_of_seed(node_key: bytes, owner: Address) -> str:
    return raw_address(Address((0, cocoon_wallet_state_init(public_key_from_seed(node_key), owner).hash)))


async def register_worker(chain: Any, network: CocoonNetwork, node_key: bytes, proxy_index: int) -> str:
    """What the runner does on meeting a proxy: deploy the worker contract with 0.3 TON (§7.6)."""
    owner = network.owner.addr
    proxy = network.proxy(proxy_index)
    state_init = worker_contract_state_init(owner, proxy.contract_addr, proxy.key, network.root_params())
    worker = worker_contract_for(network, proxy_index, owner)
    msg = internal_message(worker, 3 * TON // 10, state_init=state_init)
    await cocoon_wallet_send(chain, node_key=node_key, owner=owner, messages=[OutMessage(msg, 0)])
    return raw_address(worker)


async def submit_voucher(
    chain: Any, network: CocoonNetwork, node_key: bytes, proxy_index: int, worker: str, tokens: int, qid: int
) -> None:
    """The runner's claim (§8.3): repack the voucher to its cocoon wallet, send it with 0.5 TON."""
    owner = network.owner.addr
    cocoon_wallet = Address(cocoon_wallet_of_seed(node_key, owner))
    voucher = sign_voucher(network, proxy_index, worker, tokens, query_id=qid)
    voucher = repack_send_excesses_to(voucher, cocoon_wallet)
    msg = internal_message(Address(worker), TON // 2, body=voucher.to_cell())
    await cocoon_wallet_send(chain, node_key=node_key, owner=owner, messages=[OutMessage(msg, 0)])


async def chain_stats(client: ChainClient, proxy: str, worker: str, committed: int) -> RunnerStats:
    """The runner's /jsonstats for one worker contract whose claimable tokens are all committed on
    chain: what the contract has already paid out is read from it."""
    tokens = (await read_worker_contract(client, worker)).data.tokens
    entry = RunnerProxy(
        sc_inited=True,
        proxy_sc_address=proxy,
        sc_address=worker,
        earned_tokens_committed_to_blockchain=committed,
        cached_out_tokens=tokens,
        expected_cached_out_tokens=tokens,
        running_request=False,
    )
    return RunnerStats(proxies=(entry,))
