"""The runner HTTP client against a real aiohttp server speaking the runner's quirky format."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cocoon_operator.worker.runner_client import (
    PayoutAnswer,
    RunnerClient,
    RunnerProtocolError,
    RunnerUnavailable,
    parse_control_answer,
    parse_jsonstats,
)

PROXY = "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k"

# Shaped like the runner's output (§4.1): duplicated key, an unescaped backslash and quote-free
# raw strings, rates as floats.
JSONSTATS = r"""{
  "status": {
    "wallet_balance": 2500000000,
    "actual_image_hash": true,
    "actual_model": true,
    "ton_last_synced_at": 1764100000,
    "enabled": true,
    "git_commit": "abc123",
    "git_commit_data": "2025-12-19 C:\dev"
  },
  "stats": {
    "queries": [
      10,
      0.5,
      0.4,
      0.3,
      0.2,
      0.1,
      0.01
    ],
    "total_adjusted_tokens_used": [1000, 1.5, 1.4, 1.3, 1.2, 1.1, 1e-05]
  },
  "wallet": {
    "address": "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
    "balance": 2500000000,
    "seqno": 3,
    "pending_transactions_cnt": 0,
    "active_transactions_cnt": 0
  },
  "localconfig": {
    "root_address": "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k",
    "owner_address": "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
    "model": "Qwen/Qwen3-8B@b968:7e9d",
    "coefficient": 1000,
    "check_proxy_hash": true
  },
  "root_contract_config": {
    "owner_address": "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
    "proxy_hashes": ["AA"],
    "registered_proxies": [
      {"seqno": 1, "address_for_clients": "1.2.3.4:11002", "address_for_workers": "1.2.3.4:11001"}
    ],
    "last_proxy_seqno": 1,
    "worker_hashes": [],
    "model_hashes": ["ab"],
    "version": 3,
    "struct_version": 3,
    "params_version": 2,
    "unique_id": 17,
    "is_test": false,
    "price_per_token": 2,
    "worker_fee_per_token": 1,
    "prompt_tokens_price_multiplier": 10000,
    "cached_tokens_price_multiplier": 2500,
    "completion_tokens_price_multiplier": 10000,
    "cached_tokens_price_multiplier": 9999,
    "reasoning_tokens_price_multiplier": 10000,
    "proxy_delay_before_close": 86400,
    "client_delay_before_close": 86400,
    "proxy_min_stake": 1000000000,
    "client_min_stake": 1000000000,
    "proxy_code_hash": "00",
    "worker_code_hash": "11",
    "client_code_hash": "22"
  },
  "proxies": [
    {
      "sc_inited": true,
      "proxy_sc_address": "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k",
      "proxy_public_key": "ff",
      "sc_address": "EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0",
      "earned_tokens_committed_to_blockchain": 5000,
      "earned_tokens_committed_to_proxy_db": 5200,
      "earned_tokens_max_known": 5300,
      "cached_out_tokens": 1000,
      "expected_cached_out_tokens": 2000,
      "running_request": false,
      "params_version": 2
    }
  ]
}
"""


def test_parse_tolerates_the_runner_quirks() -> None:
    stats = parse_jsonstats(JSONSTATS)
    assert stats.status.wallet_balance == 2_500_000_000
    assert stats.status.git_commit_data == "2025-12-19 C:\\dev"
    root = stats.root_contract_config
    assert root is not None and root.cached_tokens_price_multiplier == 2500  # first of the two wins
    assert root.registered_proxies[0].address_for_workers == "1.2.3.4:11001"
    (proxy,) = stats.proxies
    assert proxy.earned_tokens_committed_to_blockchain == 5000
    assert proxy.expected_cached_out_tokens == 2000
    assert proxy.uncommitted_tokens == 300
    assert stats.rate("total_adjusted_tokens_used", 5) == 1.1
    assert stats.rate("missing") is None


def test_parse_before_the_runner_is_initialised() -> None:
    stats = parse_jsonstats('{"status": {"actual_image_hash": true, "enabled": true}, "stats": {}}')
    assert stats.wallet is None and stats.proxies == () and stats.status.wallet_balance is None


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"proxies": [{"sc_inited": true}]}'])
def test_parse_errors_are_clear(text: str) -> None:
    with pytest.raises(RunnerProtocolError, match="/jsonstats"):
        parse_jsonstats(text)


def test_control_answer_text() -> None:
    page = '<html><body>request sent<br/><a href="/stats">back to stats</a></body></html>\n'
    assert parse_control_answer(page) == "request sent"
    assert parse_control_answer("proxy is closed<br/><a href='/stats'>x</a>") == "proxy is closed"


@pytest.fixture
async def runner_server() -> object:
    seen: list[str] = []

    async def jsonstats(request: web.Request) -> web.Response:
        return web.Response(text=JSONSTATS, content_type="application/json")

    async def payout(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        proxy = request.query_string.partition("proxy=")[2].partition("&")[0]
        text = "request sent" if proxy == PROXY else "proxy not found"
        return web.Response(
            text=f'<html><body>{text}<br/><a href="/stats">back</a></body></html>', content_type="text/html"
        )

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text="not found", status=400)

    app = web.Application()
    app.router.add_get("/jsonstats", jsonstats)
    app.router.add_get("/request/payout", payout)
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield server, seen
    finally:
        await server.close()


async def test_client_reads_jsonstats_and_triggers_payout(
    runner_server: tuple[TestServer, list[str]],
) -> None:
    server, seen = runner_server
    async with RunnerClient(str(server.make_url("")), timeout_s=5) as client:
        stats = await client.jsonstats()
        assert stats.proxies[0].proxy_sc_address == PROXY
        assert await client.request_payout(PROXY) is PayoutAnswer.SENT
        assert await client.request_payout("EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0") is (
            PayoutAnswer.PROXY_NOT_FOUND
        )
    assert seen[0] == f"/request/payout?proxy={PROXY}"  # verbatim, no percent-encoding


async def test_client_refuses_values_it_cannot_pass_verbatim() -> None:
    async with RunnerClient("http://127.0.0.1:1") as client:
        with pytest.raises(ValueError, match="verbatim"):
            await client.request_payout("a&b=c")


async def test_unreachable_runner_is_a_connection_error(unused_tcp_port: int) -> None:
    async with RunnerClient(f"http://127.0.0.1:{unused_tcp_port}", timeout_s=2) as client:
        with pytest.raises(RunnerUnavailable, match="unreachable") as info:
            await client.jsonstats()
    assert isinstance(info.value, ConnectionError)


def test_parses_the_runner_simulators_jsonstats() -> None:
    """Cross-check with the dev stack's runner simulator, which reproduces the runner's output."""
    from tests.fixtures.runtime import OWNER, worker_config

    from cocoon_dev.runtime.runner_sim import jsonout
    from cocoon_dev.runtime.runner_sim.chain import FakeTonChain, ProxyIdentity, SimRootConfig
    from cocoon_dev.runtime.runner_sim.config import WorkerConfig
    from cocoon_dev.runtime.runner_sim.runner import ProxyEntry, Runner, RunnerSettings
    from cocoon_dev.runtime.runner_sim.web_api import jsonstats

    config = WorkerConfig.from_dict(worker_config())
    runner = Runner(config, FakeTonChain(OWNER, config.node_wallet_key), RunnerSettings(request_rate=0))
    identity = ProxyIdentity(
        proxy_sc_address=PROXY,
        proxy_public_key=bytes(32),
        worker_sc_address="EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0",
        params_version=0,
    )
    runner.state.proxies[PROXY] = ProxyEntry(identity=identity, sc_inited=True)
    runner.state.root = SimRootConfig()
    text = jsonout.dumps(jsonstats(runner))
    assert text.count('"cached_tokens_price_multiplier"') == 2
    stats = parse_jsonstats(text)
    assert stats.root_contract_config is not None
    (proxy,) = stats.proxies
    assert proxy.proxy_sc_address == PROXY and proxy.sc_inited and not proxy.running_request
    assert stats.status.actual_image_hash is not None


async def test_trigger_passes_the_runners_own_spelling_and_maps_answers() -> None:
    from cocoon_operator.rewards import ledger as lg
    from cocoon_operator.rewards.facts import LiveFacts, runner_facts, runner_trigger
    from cocoon_operator.ton.addresses import raw_address

    class FakeRunner:
        def __init__(self) -> None:
            self.asked: list[str] = []

        async def jsonstats(self) -> object:
            return parse_jsonstats(JSONSTATS)

        async def request_payout(self, proxy: str) -> PayoutAnswer:
            self.asked.append(proxy)
            return PayoutAnswer.SENT if proxy == PROXY else PayoutAnswer.UNKNOWN

    fake = FakeRunner()
    facts = LiveFacts(client=None, runner=fake, owner=PROXY)  # type: ignore[arg-type]
    rf = await facts.runner_facts()
    assert rf is not None and rf.reachable and rf.proxies[0].proxy == raw_address(PROXY)
    assert rf.proxies[0].committed_tokens == 5000 and rf.proxies[0].expected_paid_tokens == 2000
    assert [c.proxy for c in facts.contracts] == [raw_address(PROXY)]
    trigger = runner_trigger(fake, facts)  # type: ignore[arg-type]
    assert await trigger(raw_address(PROXY)) is lg.TriggerAnswer.SENT
    assert fake.asked == [PROXY]  # verbatim, as /jsonstats spelled it
    assert await trigger("0:" + "0" * 64) is lg.TriggerAnswer.UNKNOWN
    assert runner_facts(None) == lg.RunnerFacts(reachable=False)
