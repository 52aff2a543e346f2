"""The rewards provider's sweep step against the in-process local chain and the versioned in-memory
API: the sweep intent is in `status.sweep` (guarded write) before the external leaves, the surplus
lands at the owner once, with an Event and a metric; nothing happens while the sweep is off."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cocoon_dev.memory_kube import VersionedKube
from cocoon_dev.ton.network import cocoon_wallet_send, deploy_cocoon_network
from cocoon_operator import metrics as mx
from cocoon_operator.steps.common import node_seed
from cocoon_operator.steps.rewards import RewardSteps
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.identity import cocoon_wallet_of
from cocoon_operator.ton.wallet_messages import OutMessage, internal_message
from tests.unit.providers.test_chain_rewards_providers import NS, _ctx, _objects
from tests.unit.providers.test_chain_rewards_providers import hub as hub  # the fixture

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120)]
TON = 10**9


async def test_sweep_writes_the_intent_first_and_lands_once(ton_chain: Any, hub: Any) -> None:
    chain, _ = ton_chain
    network = await deploy_cocoon_network(chain)
    cn, wallet_secret, *rest = _objects(network, treasury=False)
    kube = VersionedKube([cn, wallet_secret, *rest])
    seed = node_seed(wallet_secret)
    assert seed is not None
    owner = network.owner.address
    wallet = cocoon_wallet_of(public_key_from_seed(seed), owner)
    await chain.faucet(wallet, 12 * TON)
    elsewhere = internal_message(cocoon_wallet_of(bytes(32), owner), 1, bounce=False)
    await cocoon_wallet_send(chain, node_key=seed, owner=owner, messages=[OutMessage(elsewhere, 1)])
    registry = CollectorRegistry()
    steps = RewardSteps(hub, kube, metrics=mx.create(registry))

    off = await steps.observe(_ctx(kube, pod=None))  # sweepAbove unset: off by default
    assert "sweep" not in off.status and not any("sweep" in (p.get("status") or {}) for p in kube.patches)

    body = kube.find("CocoonNode", NS, "w")
    assert body is not None
    body["spec"]["rewards"] = {"sweepAbove": "8", "checkInterval": 600}
    report = await steps.observe(_ctx(kube, pod=None))
    sweeps = [p for p in kube.patches if "sweep" in (p.get("status") or {})]
    assert sweeps[0]["status"]["sweep"]["pending"]["seqno"] == 1  # written before the send…
    assert sweeps[0]["metadata"]["resourceVersion"]  # …guarded by resourceVersion
    stored = kube.find("CocoonNode", NS, "w")
    assert stored is not None
    record = stored["status"]["sweep"]
    assert "pending" not in record and record["sweeps"] == 1 and record["lastTxHash"]
    assert report.status["sweep"] == record
    assert [e.reason for e in report.events if "Swe" in e.reason] == ["WalletSwept"]
    labels = {"namespace": NS, "name": "w", "result": "WalletSwept"}
    assert registry.get_sample_value("cocoon_sweeps_total", labels) == 1

    again = await steps.observe(_ctx(kube, pod=None))  # below the ceiling now: nothing more
    assert not [e for e in again.events if "Swe" in e.reason]
    _, client = await hub.client(_ctx(kube))
    page = await client.transactions(wallet)
    owner_raw = raw_address(owner)
    received = [o.value for t in page.transactions for o in t.out_msgs if o.dest == owner_raw]
    assert received == [record["sweptNano"]]
    assert chain.balance(wallet) >= 5 * TON
    for p in kube.patches:
        assert base64.b64encode(seed).decode() not in str(p) and seed.hex() not in str(p)
