"""Benchmark of the local TON chain (not a test): transactions per second and get-method latency.

    .venv/bin/python bench/chain_bench.py [--messages 300] [--calls 300]

Figures printed:
- in process: faucet credits (1 transaction each) and V4R2 wallet transfers (external -> wallet ->
  recipient: 2 transactions each), sequential, through `LocalChain` directly;
- through the liteserver (ADNL/TCP, pytoniq LiteClient): the same pre-signed transfers sent with
  `raw_send_message`, sequentially and 8 at a time on one connection;
- get-method latency (`seqno` of a V4R2): in process and through the liteserver (p50/p95/mean).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from nacl.bindings import crypto_sign_seed_keypair
from pytoniq.contract.wallets.wallet import WalletV4R2
from pytoniq.liteclient.client import LiteClient
from pytoniq_core.boc.address import Address

from cocoon_dev.ton.chain import TON, LocalChain
from cocoon_dev.ton.engine import emulator_version
from cocoon_dev.ton.liteserver import LocalLiteServer


def _key(name: str) -> bytes:
    return bytes(crypto_sign_seed_keypair(hashlib.sha256(name.encode()).digest())[1])


async def _wallet(provider: Any, chain: LocalChain, name: str) -> WalletV4R2:
    wallet: WalletV4R2 = await WalletV4R2.from_private_key(
        provider=provider, private_key=_key(name), version="v4r2"
    )
    await chain.faucet(wallet.address, 1_000_000 * TON)
    await chain.send_message(_transfer(wallet, 0, None))
    return wallet


def _transfer(wallet: WalletV4R2, seqno: int, dest: Address | None) -> bytes:
    msgs = [] if dest is None else [wallet.create_wallet_internal_message(destination=dest, value=TON // 100)]
    body = wallet.raw_create_transfer_msg(
        private_key=wallet.private_key,  # type: ignore[attr-defined]  # set by from_private_key
        seqno=seqno,
        wallet_id=wallet.wallet_id,
        messages=msgs,
        valid_until=int(time.time()) + 3600,
    )
    init = wallet.state_init if seqno == 0 else None
    boc: bytes = (
        wallet.create_external_msg(dest=wallet.address, state_init=init, body=body).serialize().to_boc()
    )
    return boc


def _sink(i: int) -> Address:
    return Address(Address((0, hashlib.sha256(f"sink{i}".encode()).digest())).to_str(is_bounceable=False))


async def _rate(label: str, n: int, tx_per_item: int, run: Callable[[int], Awaitable[Any]]) -> None:
    start = time.perf_counter()
    for i in range(n):
        await run(i)
    elapsed = time.perf_counter() - start
    print(f"  {label:<52} {n / elapsed:8.0f} msg/s  {n * tx_per_item / elapsed:8.0f} tx/s")


def _latency(label: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    p50, mean = statistics.median(ms), statistics.fmean(ms)
    print(f"  {label:<52} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  mean {mean:6.2f} ms")


async def main(messages: int, calls: int) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"local chain benchmark - {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"emulator {emulator_version()['emulatorLibCommitHash'][:10]}, mainnet config\n")
    print("transactions (sequential unless noted):")

    chain = LocalChain()
    target = Address((0, b"\x11" * 32))
    await _rate("in process: faucet credit", messages, 1, lambda i: chain.faucet(target, TON))

    wallet = await _wallet(chain, chain, "bench-inproc")
    bocs = [_transfer(wallet, s, _sink(s)) for s in range(1, messages + 1)]

    async def send_inproc(i: int) -> None:
        await chain.send_message(bocs[i])

    await _rate("in process: V4R2 transfer (2 tx each)", messages, 2, send_inproc)

    async with LocalLiteServer(chain) as server:
        client = LiteClient.from_config(server.global_config(), trust_level=2)
        await client.connect()
        try:
            remote = await _wallet(client, chain, "bench-remote")
            rbocs = [_transfer(remote, s, _sink(s)) for s in range(1, 2 * messages + 1)]

            async def send_remote(i: int) -> None:
                await client.raw_send_message(rbocs[i])

            await _rate("liteserver: V4R2 transfer, sequential", messages, 2, send_remote)
            start = time.perf_counter()
            batch = 8
            for i in range(messages, 2 * messages, batch):
                # 8 in flight on one connection; seqno order is kept by sending in order
                await asyncio.gather(*(client.raw_send_message(b) for b in rbocs[i : i + batch]))
            elapsed = time.perf_counter() - start
            print(
                f"  {'liteserver: V4R2 transfer, 8 in flight':<52} {messages / elapsed:8.0f} msg/s  "
                f"{2 * messages / elapsed:8.0f} tx/s"
            )
            seqno = (await client.run_get_method(remote.address, "seqno", []))[0]
            assert seqno == 2 * messages + 1, f"expected every transfer applied, seqno {seqno}"

            print("\nget-method `seqno` latency:")
            samples = []
            for _ in range(calls):
                t = time.perf_counter()
                chain.get_method(remote.address, "seqno", [])
                samples.append(time.perf_counter() - t)
            _latency("in process (LocalChain.get_method)", samples)
            samples = []
            for _ in range(calls):
                t = time.perf_counter()
                await client.run_get_method(remote.address, "seqno", [])
                samples.append(time.perf_counter() - t)
            _latency("liteserver (LiteClient.run_get_method)", samples)
            samples = []
            for _ in range(calls):
                t = time.perf_counter()
                await client.raw_get_account_state(remote.address)
                samples.append(time.perf_counter() - t)
            _latency("liteserver (LiteClient.raw_get_account_state)", samples)
        finally:
            await client.close()
    totals = f"{chain.total_transactions} transactions, {chain.accounts_count} accounts"
    print(f"\nchain: height {chain.seqno}, {totals}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.calls))
