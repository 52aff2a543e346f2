"""The runner simulator against the local chain (real TVM) through the local liteserver.

The simulator runs as its own process, as in a pod: it reads the root, waits for the cocoon wallet
balance, deploys its worker contract, earns tokens from real inference calls, and a
`/request/payout` moves exactly tokens x worker_fee_per_token from the proxy contract to the owner.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytoniq_core.boc.address import Address

from cocoon_dev.runtime.runner_sim.chain import friendly
from cocoon_dev.ton.network import DEV_IMAGE_HASH, deploy_cocoon_network
from cocoon_operator.ton.addresses import cocoon_wallet_address, public_key_from_seed, raw_address
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.worker_contracts import read_worker_data
from tests.fixtures.runtime import WorkerPod, worker_config

pytestmark = [pytest.mark.chain, pytest.mark.triton]

TON = 10**9
PAYOUT_OP = 0xC59A7CD3


async def poll(
    url: str, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
) -> dict[str, Any]:
    """Poll /jsonstats without blocking the event loop (the liteserver runs on it)."""
    async with httpx.AsyncClient(timeout=5) as client:
        end = asyncio.get_running_loop().time() + timeout
        last: Any = None
        while asyncio.get_running_loop().time() < end:
            try:
                resp = await client.get(url)
                if resp.status_code == 200:
                    last = resp.json()
                    if predicate(last):
                        return dict(last)
            except httpx.HTTPError as exc:
                last = exc
            await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


async def test_registers_earns_and_payout_moves_tokens_times_fee(
    ton_chain: Any, worker_pod_factory: Callable[..., WorkerPod], tmp_path: Path
) -> None:
    chain, global_config = ton_chain
    network = await deploy_cocoon_network(chain, price_per_token=5, worker_fee_per_token=3)
    (tmp_path / "network.json").write_text(network.dumps())
    (tmp_path / "global-config.json").write_text(json.dumps(global_config))
    node_key = os.urandom(32)
    owner = Address(network.owner.address)
    wallet = cocoon_wallet_address(public_key_from_seed(node_key), owner)
    await chain.faucet(wallet, 5 * TON)
    config = worker_config(
        root_contract_address=friendly(network.root_addr),
        owner_address=friendly(owner),
        model_name=network.model,
        image_hash=base64.b64encode(DEV_IMAGE_HASH).decode(),
        check_proxy_hashes=True,
        node_wallet_key=base64.b64encode(node_key).decode(),
        ton_config_filename=str(tmp_path / "global-config.json"),
    )
    pod = worker_pod_factory(
        config,
        sim_args=("--chain", "ton", "--network", str(tmp_path / "network.json"), "--request-rate", "4",
                  "--commit-interval", "1", "--refresh", "0.5", "--root-refresh", "5"),
        wait_runner=False,
    )  # fmt: skip
    url = f"{pod.runner_url}/jsonstats"

    def registered(d: dict[str, Any]) -> bool:
        return bool(d["proxies"]) and d["proxies"][0]["sc_inited"] and d["proxies"][0][
            "earned_tokens_committed_to_blockchain"] > 0  # fmt: skip

    data = await poll(url, registered, 90, "worker contract deployed and tokens committed")
    assert data["status"]["actual_image_hash"] is True and data["status"]["actual_model"] is True
    assert data["localconfig"]["check_proxy_hash"] is True
    assert data["root_contract_config"]["worker_fee_per_token"] == 3
    assert data["wallet"]["address"] == friendly(wallet)
    proxy = data["proxies"][0]
    assert raw_address(proxy["proxy_sc_address"]) == network.proxies[0].contract
    client = ChainClient(chain)
    worker = await read_worker_data(client, proxy["sc_address"])
    assert worker.owner_address == raw_address(owner) and worker.state == 0 and worker.tokens == 0
    assert worker.proxy_address == network.proxies[0].contract

    # Freeze traffic and let the proxy commit everything, then claim.
    async with httpx.AsyncClient(timeout=10) as http:
        assert "state updated" in (await http.get(f"{pod.runner_url}/request/disable")).text
        await asyncio.sleep(1.5)
        data = await poll(
            url,
            lambda d: (
                d["proxies"][0]["earned_tokens_committed_to_blockchain"]
                == d["proxies"][0]["earned_tokens_max_known"]
            ),
            30,
            "all tokens committed",
        )
        tokens = data["proxies"][0]["earned_tokens_committed_to_blockchain"]
        assert tokens == data["stats"]["total_adjusted_tokens_used"][0]
        address = data["proxies"][0]["proxy_sc_address"]
        assert "request sent" in (await http.get(f"{pod.runner_url}/request/payout?proxy={address}")).text
        second = (await http.get(f"{pod.runner_url}/request/payout?proxy={address}")).text
        assert "request is already running" in second

    done = await poll(
        url,
        lambda d: not d["proxies"][0]["running_request"] and d["proxies"][0]["cached_out_tokens"] == tokens,
        60,
        "payout confirmed",
    )
    assert done["proxies"][0]["expected_cached_out_tokens"] == tokens
    assert (await read_worker_data(client, proxy["sc_address"])).tokens == tokens

    page = await client.transactions(owner, limit=16)
    payouts = [
        tx.in_msg
        for tx in page.transactions
        if tx.in_msg is not None
        and tx.in_msg.body is not None
        and tx.in_msg.src == network.proxies[0].contract
        and tx.in_msg.body.begin_parse().load_uint(32) == PAYOUT_OP
    ]
    assert len(payouts) == 1
    assert payouts[0].value == tokens * 3  # exactly tokens x worker_fee_per_token
