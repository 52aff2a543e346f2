"""Pure logic of the runner simulator: JSON writer, decayed rates, token formula, config, answers."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from pytoniq_core import Address

from cocoon_dev.runtime.runner_sim import jsonout
from cocoon_dev.runtime.runner_sim.accounting import Multipliers, Usage, adj, adjust, claimable_tokens
from cocoon_dev.runtime.runner_sim.chain import FakeTonChain, ProxyIdentity, SimRootConfig, friendly
from cocoon_dev.runtime.runner_sim.config import ConfigError, WorkerConfig
from cocoon_dev.runtime.runner_sim.counters import DecayedCounter
from cocoon_dev.runtime.runner_sim.runner import ProxyEntry, Runner, RunnerSettings
from cocoon_dev.runtime.runner_sim.web_api import jsonstats, parse_query
from tests.fixtures.runtime import OWNER, worker_config


def test_json_writer_keeps_duplicate_keys_and_does_not_escape() -> None:
    text = jsonout.dumps(
        jsonout.Obj([("a", 1), ("a", 2), ("s", 'x"y'), ("l", [1.5, 1e-05, True]), ("e", [])])
    )
    assert text == (
        '{\n  "a": 1,\n  "a": 2,\n  "s": "x"y",\n'
        '  "l": [\n    1.5,\n    1e-05,\n    true\n  ],\n  "e": []\n}\n'
    )


def test_floats_use_cpp_default_format() -> None:
    assert [jsonout.format_float(x) for x in (0.0, 0.5, 123456789.0, 1 / 3)] == [
        "0",
        "0.5",
        "1.23457e+08",
        "0.333333",
    ]


def test_decayed_counter_rates() -> None:
    now = [1000.0]
    counter = DecayedCounter(clock=lambda: now[0])
    counter.add(10)
    assert counter.snapshot()[0] == 10
    rates = counter.rates()
    assert (
        rates[0] == pytest.approx(10.0)
        and rates[1] == pytest.approx(1.0)
        and rates[5] == pytest.approx(10 / 86400)
    )
    now[0] += 10
    rates = counter.rates()
    assert rates[1] == pytest.approx(math.exp(-1) * 10 / 10)
    assert rates[0] == pytest.approx(math.exp(-10) * 10)


def test_adjusted_tokens_formula() -> None:
    usage = Usage.from_openai(
        {"prompt_tokens": 20, "completion_tokens": 16, "prompt_tokens_details": {"cached_tokens": 12},
         "completion_tokens_details": {"reasoning_tokens": 2}}
    )  # fmt: skip
    used = adjust(usage, Multipliers(), 1500)
    assert (used.prompt, used.cached, used.completion, used.reasoning, used.total) == (12, 18, 21, 3, 54)
    used = adjust(usage, Multipliers(prompt=10000, cached=2500, completion=20000, reasoning=5000), 1000)
    assert (used.prompt, used.cached, used.completion, used.reasoning) == (8, 3, 28, 1)
    assert adj(7, 10000, 333) == 2  # floor(7 * 0.333)
    assert (
        Usage.from_openai({"prompt_tokens": 5, "reasoning_tokens": 3, "completion_tokens": 4}).reasoning == 3
    )
    assert claimable_tokens(100, 40) == 60 and claimable_tokens(10, 40) == 0


def test_config_errors_use_the_runners_words_and_hide_the_key() -> None:
    with pytest.raises(ConfigError, match='Can\'t parse "abc" as an integer'):
        WorkerConfig.from_dict(worker_config(coefficient="abc"))
    with pytest.raises(ConfigError, match="Wrong length for UInt") as err:
        WorkerConfig.from_dict(worker_config(node_wallet_key="c2VjcmV0"))
    assert "c2VjcmV0" not in str(err.value) and str(err.value).startswith("failed to parse runner config: ")
    cfg = WorkerConfig.from_dict(worker_config())
    assert len(cfg.node_wallet_key) == 32 and "node_wallet_key" not in repr(cfg)
    assert cfg.coefficient == 1000 and cfg.max_active_requests == 60 and not cfg.checks_enabled
    assert WorkerConfig.from_dict(worker_config(max_active_requests=0)).max_active_requests == 200


def test_query_string_is_not_percent_decoded() -> None:
    assert parse_query("proxy=EQ%2Dabc&x=1&flag") == {"proxy": "EQ%2Dabc", "x": "1", "flag": ""}


class _Chain(FakeTonChain):
    pass


def _runner_with_proxy(**entry: object) -> tuple[Runner, ProxyEntry]:
    config = WorkerConfig.from_dict(worker_config())
    runner = Runner(config, _Chain(OWNER, config.node_wallet_key), RunnerSettings(request_rate=0))
    identity = ProxyIdentity(
        proxy_sc_address="EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0",
        proxy_public_key=bytes(32),
        worker_sc_address="EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k",
        params_version=0,
    )
    proxy = ProxyEntry(identity=identity, **entry)  # type: ignore[arg-type]
    runner.state.proxies[identity.proxy_sc_address] = proxy
    runner.state.root = SimRootConfig()
    return runner, proxy


@pytest.mark.parametrize(
    ("entry", "answer"),
    [
        ({"running_request": True, "sc_inited": False, "closed": True}, "request is already running"),
        ({"sc_inited": False, "closed": True}, "proxy is not inited"),
        ({"sc_inited": True, "closed": True}, "proxy is closed"),
    ],
)
def test_payout_answers_are_checked_in_the_runner_order(entry: dict[str, object], answer: str) -> None:
    runner, _ = _runner_with_proxy(**entry)
    assert runner.request_payout("EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k") == "proxy not found"
    assert runner.request_payout("garbage") == "proxy not found"
    # The same address in its non-bounceable form is the same proxy (compared by workchain + hash).
    other_form = friendly(Address("EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0"), bounceable=False)
    assert other_form.startswith("UQ")
    assert runner.request_payout(other_form) == answer


def test_jsonstats_shape_without_wallet_or_proxies() -> None:
    runner, _ = _runner_with_proxy()
    runner.state.proxies.clear()
    pairs: list[list[tuple[str, object]]] = []
    json.loads(jsonout.dumps(jsonstats(runner)), object_pairs_hook=lambda p: pairs.append(p) or dict(p))
    top = [k for k, _ in pairs[-1]]
    assert top == ["status", "stats", "localconfig", "root_contract_config", "proxies"]  # no wallet yet
    status = next(p for p in pairs if p and p[0][0] == "actual_image_hash")
    assert [k for k, _ in status][:1] == [
        "actual_image_hash"
    ]  # wallet_balance absent until the wallet exists


def _credit_many(directory: str, owner: str, n: int) -> None:
    from pathlib import Path

    from cocoon_dev.runtime.runner_sim.proxy_db import ProxyDb

    db = ProxyDb(Path(directory))
    for _ in range(n):
        db.credit("0:" + "a" * 64, owner, 3)


def test_the_simulated_proxy_keys_earnings_by_owner_across_processes(tmp_path: Any) -> None:
    """Like the real proxy (cocoon-protocol.md §2.4): one total per (proxy, owner), shared by every
    simulator of that owner, whatever process it runs in."""
    import multiprocessing

    from cocoon_dev.runtime.runner_sim.proxy_db import ProxyDb

    owner, other = "0:" + "1" * 64, "0:" + "2" * 64
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_credit_many, args=(str(tmp_path), owner, 200)) for _ in range(3)]
    procs.append(ctx.Process(target=_credit_many, args=(str(tmp_path), other, 10)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    db = ProxyDb(tmp_path)
    assert db.total("0:" + "a" * 64, owner) == 3 * 200 * 3
    assert db.total("0:" + "a" * 64, other) == 30
    assert db.total("0:" + "b" * 64, owner) == 0  # another proxy: another total
