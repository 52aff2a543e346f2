"""The chain and rewards providers against the in-process local chain (real TVM) and an in-memory
API with resourceVersion checks: pre-flight, funding exactly once with the intent written first,
ChainUnavailable handling, and an empty claim cycle that starts the ledger."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pytoniq_core.boc.address import Address

from cocoon_dev.memory_kube import VersionedKube
from cocoon_dev.ton.network import DEV_IMAGE_HASH, CocoonNetwork, cocoon_wallet_send
from cocoon_operator import metrics as mx
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.money.records import RecordConflict
from cocoon_operator.reconcile import runtimes
from cocoon_operator.settings import Settings
from cocoon_operator.status import Cond
from cocoon_operator.steps import chain as chain_provider
from cocoon_operator.steps.chain import ChainSteps
from cocoon_operator.steps.common import (
    ChainHub,
    GuardedStatus,
    StaleStatus,
    node_identity,
    node_seed,
    strip_none,
)
from cocoon_operator.steps.contract import Context, StepReport
from cocoon_operator.steps.funding import FIRST_REGISTRATION_NANO
from cocoon_operator.steps.rewards import RewardSteps
from cocoon_operator.ton.addresses import format_address
from cocoon_operator.ton.client import ChainClient, ChainSettings, ChainUnavailable
from cocoon_operator.ton.follower import BlockFollower
from cocoon_operator.ton.wallet_messages import OutMessage, internal_message
from cocoon_operator.worker.runner_client import RunnerStats

pytestmark = pytest.mark.chain
TON = 10**9
NS = "ns1"
FIRST = FIRST_REGISTRATION_NANO  # what the treasury sends before the runner reports its wallet


class LocalHub(ChainHub):
    """The hub over the test's liteserver (the ConfigMap content does not matter here). With
    `follow`, a block follower (issue 20) takes one step before every use of the client, so each
    step sees every block sealed before it."""

    def __init__(self, global_config: dict[str, Any], *, follow: bool = False) -> None:
        super().__init__()
        self.global_cfg = global_config
        self.down = False
        self.follow_blocks = follow
        self._client: ChainClient | None = None

    async def client(self, ctx: Context) -> tuple[str, ChainClient]:
        if self.down:
            raise ChainUnavailable("No liteserver answered (test)")
        if self._client is None:
            self._client = ChainClient.from_config(self.global_cfg, ChainSettings(use_balancer=False))
            await self._client.start()
            if self.follow_blocks:
                follower = BlockFollower(self._client)
                self._client.cache = follower.cache
                self.followers["local"] = follower
        follower = self.followers.get("local")
        if follower is not None:
            await follower.tick(ask=True)
        return "local", self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


@pytest.fixture(params=[False, True], ids=["polling", "follower"])
async def hub(request: pytest.FixtureRequest, ton_chain: Any) -> AsyncIterator[LocalHub]:
    h = LocalHub(ton_chain.global_config, follow=request.param)
    yield h
    await h.close()


def _objects(network: Any, *, model: str | None = None, treasury: bool = True) -> tuple[dict[str, Any], ...]:
    spec = {
        "model": model or network.model,
        "ownerAddress": format_address(network.owner.addr, bounceable=False),
        "network": {
            "globalConfigRef": {"name": "ton"},
            "rootContractAddress": format_address(network.root_addr),
        },
        "wallet": {"secretRef": {"name": "w-wallet"}, "floor": "3", "target": "5"},
        "worker": {"image": "runner", "mode": "Test"},
        "imageHash": DEV_IMAGE_HASH.hex(),
    }
    if treasury:
        spec["funding"] = {"treasurySecretRef": {"name": "treasury"}}
    cn = {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": "w", "namespace": NS, "uid": "u1", "generation": 1, "resourceVersion": "1"},
        "spec": spec,
        "status": {},
    }
    key_text = base64.b64encode(os.urandom(32)).decode()
    wallet = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "w-wallet", "namespace": NS},
        "data": {"node_wallet_key": base64.b64encode(key_text.encode()).decode()},
    }
    t = network.treasury
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "treasury", "namespace": NS},
        "data": {
            "privateKey": base64.b64encode(t.private_key.encode()).decode(),
            "walletId": base64.b64encode(str(t.wallet_id).encode()).decode(),
        },
    }
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ton", "namespace": NS},
        "data": {"global.config.json": "{}"},
    }
    return cn, wallet, secret, cm


# A worker pod bound to a node but not running yet (no pod IP): funded, not registered.
BOUND_POD: dict[str, Any] = {"metadata": {"name": "w-0"}, "spec": {"nodeName": "tdx-h100-0"}, "status": {}}


@pytest.fixture
def kube(network: CocoonNetwork) -> VersionedKube:
    """The CocoonNode, its wallet Secret, the treasury Secret and the TON config, on `network`."""
    return VersionedKube(list(_objects(network)))


def _treasury_policy(kube: VersionedKube, annotations: dict[str, str]) -> None:
    """The treasury's owner sets their policy: the treasury Secret's annotations become `annotations`."""
    treasury = kube.find("Secret", NS, "treasury")
    assert treasury is not None
    treasury["metadata"]["annotations"] = annotations


def _cond(report: StepReport, type_: str) -> Cond:
    return next(c for c in report.conditions if c.type == type_)


def _ctx(kube: VersionedKube, pod: dict[str, Any] | None = BOUND_POD) -> Context:
    body = kube.find("CocoonNode", NS, "w")
    assert body is not None
    spec = parse_spec(body["spec"])
    return Context(
        name="w", namespace=NS, uid="u1", generation=1, spec=spec,
        status=copy.deepcopy(body.get("status") or {}), pod=pod, wallet_secret_name="w-wallet",
        settings=Settings(), kube=kube, worker=runtimes.worker_access(spec, Settings()),
    )  # fmt: skip


async def test_preflight_blocks_a_model_the_root_does_not_allow(
    hub: LocalHub, network: CocoonNetwork
) -> None:
    kube = VersionedKube(list(_objects(network, model="Evil/Model@" + "a" * 40 + ":" + "b" * 64)))
    steps = ChainSteps(hub, kube)
    report = await steps.preflight(_ctx(kube))
    assert report.allow_workload is False
    (cond,) = report.conditions
    assert (cond.type, cond.status, cond.reason) == ("Registered", "False", "ModelNotAllowed")
    assert "Evil/Model" in cond.message and network.root in cond.message
    assert report.events and report.events[0].reason == "PreflightFailed"
    assert report.status["walletAddress"].startswith(("UQ", "0Q"))
    ok = VersionedKube(list(_objects(network)))
    assert (await ChainSteps(hub, ok).preflight(_ctx(ok))).allow_workload is True


async def test_funding_writes_the_intent_first_and_tops_up_once(
    ton_chain: Any, hub: LocalHub, network: CocoonNetwork, kube: VersionedKube
) -> None:
    chain, _ = ton_chain
    steps = ChainSteps(hub, kube)
    report = await steps.observe(_ctx(kube))
    funded = _cond(report, "WalletFunded")
    assert funded.status == "True" and funded.reason in ("TopUpConfirmed", "WalletFunded")
    # The intent reached the status before the transfer, and was cleared after confirmation.
    intents = [p["status"]["funding"]["intent"] for p in kube.patches]
    # The runner has not said which wallet it uses yet: only what the first registration needs.
    assert intents[0] is not None and intents[0]["amountNano"] == FIRST
    assert intents[-1] is None
    assert "first registration" in funded.message
    cn = kube.find("CocoonNode", NS, "w")
    assert cn is not None
    ident = node_identity(kube.find("Secret", NS, "w-wallet"), network.owner.address)
    assert ident is not None
    assert chain.balance(ident.wallet) == FIRST
    # A second observe sees the wallet above the (capped) floor: no second transfer.
    again = await steps.observe(_ctx(kube))
    assert _cond(again, "WalletFunded").reason == "WalletFunded"
    assert chain.balance(ident.wallet) == FIRST
    # Once the runner reported the same address, the spec's floor (3) and target (5) apply.
    cn["status"]["walletAddress"] = format_address(Address(ident.wallet), bounceable=False)
    cn["status"]["runnerWalletAddress"] = cn["status"]["walletAddress"]
    # A raised band is a new need: funded at once, within the minute after the first top-up.
    await steps.observe(_ctx(kube))
    assert 5 * TON - 1000 <= chain.balance(ident.wallet) <= 5 * TON
    # The same band short again within a minute (the wallet spent 2.5 TON) waits for the interval.
    seed = node_seed(kube.find("Secret", NS, "w-wallet"))
    assert seed is not None
    owner = network.owner.address
    out = internal_message(owner, 5 * TON // 2, bounce=False)
    await cocoon_wallet_send(chain, node_key=seed, owner=owner, messages=[OutMessage(out, 1)])
    soon = await steps.observe(_ctx(kube))
    assert _cond(soon, "WalletFunded").reason == "TopUpIntervalNotElapsed"
    before = chain.balance(ident.wallet)
    assert before < 5 * TON
    await chain.advance(61)
    await steps.observe(_ctx(kube))
    assert chain.balance(ident.wallet) > before
    # Not registered without a worker pod, and no secret in status.
    registered = _cond(again, "Registered")
    assert registered.status == "False" and registered.reason == "WaitingForWorker"
    dump = json.dumps([cn.get("status"), [c.message for c in again.conditions]])
    key = kube.find("Secret", NS, "w-wallet")
    assert key is not None and key["data"]["node_wallet_key"] not in dump
    assert network.treasury.private_key not in dump


async def test_an_unplaced_worker_gets_no_treasury_money(
    ton_chain: Any, hub: LocalHub, network: CocoonNetwork, kube: VersionedKube
) -> None:
    chain, _ = ton_chain
    steps = ChainSteps(hub, kube)
    ident = node_identity(kube.find("Secret", NS, "w-wallet"), network.owner.address)
    assert ident is not None
    treasury_before = chain.balance(network.treasury.address)
    for pod in (None, {"metadata": {"name": "w-0"}, "spec": {}, "status": {"phase": "Pending"}}):
        report = await steps.observe(_ctx(kube, pod=pod))
        funded = _cond(report, "WalletFunded")
        assert (funded.status, funded.reason) == ("False", "WaitingForPlacement")
        assert "Scheduled=True" in funded.message
    assert chain.balance(ident.wallet) == 0
    assert chain.balance(network.treasury.address) == treasury_before
    assert not [p for p in kube.patches if (p.get("status") or {}).get("funding", {}).get("intent")]
    # Once the pod is bound to a node, the wallet is topped up.
    report = await steps.observe(_ctx(kube))
    assert _cond(report, "WalletFunded").status == "True"
    assert chain.balance(ident.wallet) == FIRST


async def test_a_runner_on_another_wallet_gets_no_money(
    ton_chain: Any,
    hub: LocalHub,
    monkeypatch: pytest.MonkeyPatch,
    network: CocoonNetwork,
    kube: VersionedKube,
) -> None:
    """The runner reports a cocoon wallet other than the derived one: nothing is sent, and it says so."""
    chain, _ = ton_chain
    other = format_address(network.treasury.addr, bounceable=False)
    stats = RunnerStats.model_validate({"wallet": {"address": other, "balance": 0, "seqno": 0}})

    async def runner_stats(ctx: Context) -> RunnerStats:
        return stats

    monkeypatch.setattr(chain_provider, "_runner_stats", runner_stats)
    metrics = mx.create(CollectorRegistry())
    treasury_before = chain.balance(network.treasury.address)
    report = await ChainSteps(hub, kube, metrics).observe(_ctx(kube))
    funded = _cond(report, "WalletFunded")
    assert (funded.status, funded.reason) == ("False", "WalletAddressMismatch")
    ident = node_identity(kube.find("Secret", NS, "w-wallet"), network.owner.address)
    assert ident is not None
    derived = format_address(Address(ident.wallet), bounceable=False)
    assert other in funded.message and derived in funded.message
    assert [e.reason for e in report.events] == ["WalletAddressMismatch"]
    assert report.status["runnerWalletAddress"] == other
    assert metrics.wallet_address_mismatch.labels(NS, "w")._value.get() == 1
    assert chain.balance(network.treasury.address) == treasury_before
    assert chain.balance(ident.wallet) == 0 and kube.patches == []


async def test_a_paused_worker_is_funded_only_if_the_treasury_says_so(
    ton_chain: Any, hub: LocalHub, network: CocoonNetwork, kube: VersionedKube
) -> None:
    chain, _ = ton_chain
    cn = kube.find("CocoonNode", NS, "w")
    assert cn is not None
    cn["spec"]["paused"] = True  # no pod: the user stopped it
    report = await ChainSteps(hub, kube).observe(_ctx(kube, pod=None))
    funded = _cond(report, "WalletFunded")
    assert (funded.status, funded.reason) == ("False", "TreasuryPolicy") and "paused" in funded.message
    ident = node_identity(kube.find("Secret", NS, "w-wallet"), network.owner.address)
    assert ident is not None and chain.balance(ident.wallet) == 0
    _treasury_policy(kube, {"cocoon.tonops.dev/fund-paused": "true"})  # the treasury's owner
    report = await ChainSteps(hub, kube).observe(_ctx(kube, pod=None))
    assert _cond(report, "WalletFunded").status == "True"
    assert chain.balance(ident.wallet) == FIRST


async def test_the_treasury_policy_caps_what_a_spec_asks(
    ton_chain: Any, hub: LocalHub, network: CocoonNetwork, kube: VersionedKube
) -> None:
    """A tenant asks for a big target; the treasury's owner allows 2 TON per top-up: nothing moves."""
    chain, _ = ton_chain
    _treasury_policy(kube, {"cocoon.tonops.dev/max-top-up": "2"})
    metrics = mx.create(CollectorRegistry())
    before = chain.balance(network.treasury.address)
    report = await ChainSteps(hub, kube, metrics).observe(_ctx(kube))
    funded = _cond(report, "WalletFunded")
    assert (funded.status, funded.reason) == ("False", "TreasuryPolicy")
    assert "asked 2.5 TON" in funded.message and "at most 2 TON per top-up" in funded.message
    assert [e.reason for e in report.events] == ["TreasuryPolicy"]
    assert chain.balance(network.treasury.address) == before and kube.patches == []
    # A day's budget: 2.5 TON allowed per top-up, but only 1 TON a day.
    _treasury_policy(kube, {"cocoon.tonops.dev/max-top-up": "5", "cocoon.tonops.dev/max-per-day": "1"})
    report = await ChainSteps(hub, kube, metrics).observe(_ctx(kube))
    funded = _cond(report, "WalletFunded")
    assert funded.reason == "TreasuryPolicy" and "1 TON a day" in funded.message
    assert chain.balance(network.treasury.address) == before
    _treasury_policy(kube, {"cocoon.tonops.dev/max-per-day": "lots"})
    report = await ChainSteps(hub, kube, metrics).observe(_ctx(kube))
    assert _cond(report, "WalletFunded").reason == "InvalidTreasuryPolicy"


async def test_chain_unavailable_is_a_condition_not_a_crash(hub: LocalHub, kube: VersionedKube) -> None:
    hub.down = True
    steps = ChainSteps(hub, kube)
    pre = await steps.preflight(_ctx(kube))
    assert pre.allow_workload is True  # nothing known against the worker: keep the last decision
    assert pre.conditions[0].reason == "ChainUnavailable" and pre.conditions[0].status == "Unknown"
    seen = await steps.observe(_ctx(kube))
    assert {c.type: c.reason for c in seen.conditions} == {
        "WalletFunded": "ChainUnavailable",
        "Registered": "ChainUnavailable",
    }
    rewards = await RewardSteps(hub, kube).observe(_ctx(kube))
    assert rewards.conditions[0].reason == "ChainUnavailable"
    assert kube.patches == []  # nothing durable was written without the chain


async def test_rewards_cycle_starts_the_ledger_in_status(
    ton_chain: Any, hub: LocalHub, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    kube = VersionedKube(list(_objects(network, treasury=False)))
    report = await RewardSteps(hub, kube).observe(_ctx(kube))
    cn = kube.find("CocoonNode", NS, "w")
    assert cn is not None
    claims = cn["status"]["claims"]
    assert (claims["ownerCursorLt"] == chain.account(network.owner.address) and False) or claims[
        "ownerCursorLt"
    ] > 0
    assert report.status["claims"] == strip_none(claims)
    assert report.status["earnings"]["claimedNano"] == 0
    assert report.pdb_max_unavailable is None


async def test_status_writer_refuses_a_stale_write() -> None:
    cn = {"apiVersion": "cocoon.tonops.dev/v1alpha1", "kind": "CocoonNode",
          "metadata": {"name": "w", "namespace": NS, "resourceVersion": "7"}, "status": {}}  # fmt: skip
    kube = VersionedKube([cn])
    writer = GuardedStatus(kube, NS, "w")
    await writer.read()
    stored = kube.find("CocoonNode", NS, "w")
    assert stored is not None
    stored["metadata"]["resourceVersion"] = "8"  # someone else wrote in between
    stored["status"] = {"claims": {"pending": {"attemptId": "theirs"}}}
    with pytest.raises(RecordConflict):
        await writer.write({"claims": {"pending": None}})
    assert kube.patches == []  # nothing written, and never retried with the stale version
    assert writer.status["claims"]["pending"]["attemptId"] == "theirs"  # re-read: the other writer's record
    await writer.write({"claims": {"pending": None}})  # with the fresh version it goes through
    assert kube.patches[-1]["metadata"]["resourceVersion"] == "8"
    with pytest.raises(StaleStatus):
        await GuardedStatus(kube, NS, "gone").read()


def test_query_ids_survive_the_api_server_as_strings() -> None:
    """uint64 query ids above 2^63 are not valid JSON integers for the API server: stored as strings."""
    from cocoon_operator.rewards import ledger as lg
    from cocoon_operator.steps.rewards import ledger_status

    entry = lg.ClaimEntry(
        time=1, proxy="0:aa", worker_contract="0:bb", tokens=1, nano=1, tx_hash="h", lt=5,
        query_id=2**64 - 1, source=lg.PayoutSource.OPERATOR,
    )  # fmt: skip
    data = ledger_status(lg.ClaimLedger(history=(entry,), owner_cursor_lt=5))
    assert data["history"][0]["queryId"] == str(2**64 - 1)
    assert lg.ClaimLedger.from_status(json.loads(json.dumps(data))).history[0].query_id == 2**64 - 1
