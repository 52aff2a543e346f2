"""The README's main job, end to end: `cocoon-dev demo --exit-after-claims 1`, checked against the chain.

Runs the real command in a dedicated COCOON_DEV_HOME (its own cluster, chain, operator and runtime),
reads the summary's JSON line (the last line of stdout), checks its numbers against the chain through
the liteserver (owner payouts, worker contract `tokens`), then `cocoon-dev down` and checks that no
process of the stack is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from cocoon_dev import paths
from cocoon_dev.paths import REPO_ROOT

DEMO_TIMEOUT_S = 900  # the demo's own bound for the claims (after the stack is up)
COMMAND_TIMEOUT_S = 1500  # the whole command, start-up included


def _missing_piece() -> str | None:
    """Why the demo cannot run here yet (None: everything it needs is present)."""
    cache = paths.testenv_cache()  # (imported via the module: pytest would collect test*)
    for binary in ("k8s-v1.35.4/kube-apiserver", "k8s-v1.35.4/kubectl", "helm-v3.21.4/helm"):
        if not (cache / binary).is_file():
            return f"{cache / binary} is not built (tools/build-testenv.sh)"
    from cocoon_dev.runtime import triton

    if not triton.triton_available():
        return f"Triton is not installed ({triton.SETUP_COMMAND})"
    import cocoon_operator.handlers  # noqa: F401 - registers the providers
    from cocoon_operator.handlers.runtime import build_deps
    from cocoon_operator.settings import Settings

    try:  # the providers the demo's claims need: funding (chain) and rewards
        deps = build_deps(Settings(), cast(Any, None))
    except Exception:
        return None  # a factory that needs a live client: assume it is there, the demo will tell
    absent = [name for name in ("chain", "rewards") if getattr(deps, name) is None]
    if absent:
        return f"the operator registers no {' and no '.join(absent)} provider yet (handlers.runtime)"
    from cocoon_dev.stack.steps import DEMO_PRICES

    chain_help = subprocess.run(
        [sys.executable, "-m", "cocoon_dev.cli", "chain", "up", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
    if not all(flag in chain_help for flag in DEMO_PRICES):
        # At the dev default of 1 nanoTON per token no claim is worth its gas within the test's time.
        return f"`cocoon-dev chain up` cannot deploy the demo prices yet ({', '.join(DEMO_PRICES)})"
    return None


def _home_processes(home: Path) -> list[str]:
    """Processes whose command line or working directory is inside the demo's home."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X"):
            continue
        if str(home) in cmdline or cwd.startswith(str(home)):
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found


def _summary(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "the demo printed nothing"
    data: dict[str, Any] = json.loads(lines[-1])  # the summary's JSON line is the very last line
    assert data.get("cocoon_dev_demo_summary") == 1, lines[-1]
    return data


async def _chain_facts(global_config: Path, owners: list[str], workers: list[str]) -> dict[str, Any]:
    from cocoon_operator.ton.client import ChainClient
    from cocoon_operator.ton.payouts import scan_owner_payouts
    from cocoon_operator.ton.worker_contracts import read_worker_data

    payouts: dict[str, dict[str, Any]] = {}
    balances: dict[str, int] = {}
    async with ChainClient.from_config(json.loads(global_config.read_text())) as client:
        for owner in owners:
            scan = await scan_owner_payouts(client, owner, after_lt=0)
            payouts[owner] = {p.tx_hash.lower(): p for p in scan.payouts}
            balances[owner] = (await client.account_state(owner)).balance
        tokens = {w: (await read_worker_data(client, w)).tokens for w in workers}
    return {"payouts": payouts, "tokens": tokens, "balances": balances}


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_exit_after_one_claim(tmp_path: Path) -> None:
    missing = _missing_piece()
    if missing:
        pytest.skip(f"the demo needs a piece that is not present yet: {missing}")
    home = tmp_path / "home"
    env = {**os.environ, "COCOON_DEV_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("KUBECONFIG", None)
    cli = [sys.executable, "-m", "cocoon_dev.cli"]
    try:
        demo = subprocess.run(
            [*cli, "demo", "--exit-after-claims", "1", "--timeout", str(DEMO_TIMEOUT_S)],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, env=env, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
        assert demo.returncode == 0, (
            f"demo exited {demo.returncode}\n{demo.stdout[-6000:]}\n{demo.stderr[-3000:]}"
        )
        summary = _summary(demo.stdout)
        assert summary["claims_confirmed"] >= 1
        network = json.loads((home / "chain" / "network.json").read_text())
        fee = int(network["params"]["worker_fee_per_token"])
        assert summary["worker_fee_per_token"] == fee

        # Every number of the summary, against the chain (read now, through the liteserver).
        from cocoon_operator.ton.addresses import raw_address

        # Every sample CocoonNode has its own owner (one worker contract each): the dev owner wallet is one.
        owners = sorted(summary["owners"])
        assert raw_address(network["owner"]["address"]) in owners
        nodes = [n for o in summary["owners"].values() for n in o["nodes"]]
        assert len(nodes) == len(set(nodes)) == len(owners), summary["owners"]
        workers = sorted({c["worker_contract"] for c in summary["claims"]})
        chain = asyncio.run(_chain_facts(home / "chain" / "global-config.json", owners, workers))
        for claim in summary["claims"]:
            assert claim["owner"] in owners and claim["node"] in summary["owners"][claim["owner"]]["nodes"]
            payout = chain["payouts"][claim["owner"]].get(claim["tx_hash"].lower())
            assert payout is not None, f"claim {claim} has no payout at its owner on chain"
            assert payout.value == claim["nano"] == claim["tokens"] * fee
        for worker in workers:
            claimed_tokens = sum(c["tokens"] for c in summary["claims"] if c["worker_contract"] == worker)
            assert summary["worker_contract_tokens"][worker] >= claimed_tokens
            assert chain["tokens"][worker] >= summary["worker_contract_tokens"][worker]
        for owner, facts in summary["owners"].items():
            on_chain = sum(p.value for p in chain["payouts"][owner].values())
            assert facts["payouts_nano_on_chain"] <= on_chain
            assert facts["balance_nano"] is not None and chain["balances"][owner] >= facts["balance_nano"]
            claimed = sum(c["nano"] for c in summary["claims"] if c["owner"] == owner)
            assert claimed <= facts["payouts_nano_on_chain"]
            if claimed and facts["balance_start_nano"] is not None:  # the owner's balance grew
                assert facts["balance_nano"] > facts["balance_start_nano"]
        assert summary["claimed_nano"] == sum(c["nano"] for c in summary["claims"])
        assert summary["claimed_nano"] <= summary["owner_payouts_nano_on_chain"]
    finally:
        down = subprocess.run(
            [*cli, "down"], capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT, check=False
        )
    assert down.returncode == 0, f"down exited {down.returncode}\n{down.stdout}\n{down.stderr}"
    left = _home_processes(home)
    assert not left, "processes of the stack are still running after `cocoon-dev down`:\n" + "\n".join(left)


# --- fast checks of the demo's own logic (no stack needed) ------------------------------------------


def _fake_network() -> dict[str, Any]:
    from cocoon_dev.ton.network import DEV_MODELS

    return {
        "root": "0:" + "11" * 32,
        "owner": {"address": "0:" + "22" * 32},
        "treasury": {"private_key": "33" * 32, "version": "v4r2", "wallet_id": 698983191},
        "models": list(DEV_MODELS),
    }


def test_sample_cocoonnodes_are_valid_and_cover_the_fleet() -> None:
    from cocoon_dev.stack import manifests
    from cocoon_operator.api.spec import parse_spec

    samples = manifests.sample_cocoonnodes(_fake_network())
    specs = [parse_spec(obj["spec"]) for obj in samples]
    assert {s.placement.tee for s in specs} >= {"TDX", "SEV-SNP"}
    assert any("NVIDIA-B200" in s.placement.gpu_products for s in specs)  # the unplaceable one
    for spec in specs:
        assert str(spec.model) == _fake_network()["models"][0]
        assert spec.inference.model_source is None
        assert spec.funding.treasury_secret_ref is not None
    # An owner each (no shared worker contract), the first the dev owner wallet, all valid addresses.
    from cocoon_operator.ton.addresses import raw_address

    owners = [raw_address(str(spec.owner_address)) for spec in specs]
    assert len(set(owners)) == len(owners) and owners[0] == _fake_network()["owner"]["address"]
    secret = manifests.treasury_secret(_fake_network())
    assert set(secret["data"]) >= {"privateKey", "version"}


def test_only_claims_the_chain_shows_are_counted() -> None:
    from cocoon_dev.stack.fleet import claims_of, confirmed_on_chain
    from cocoon_operator.ton.payouts import PayoutTx

    proxy = "0:" + "44" * 32
    status = {
        "claims": {
            "history": [
                {"proxy": proxy, "workerContract": "0:" + "55" * 32, "tokens": 10, "nano": 10,
                 "txHash": "AA" * 32, "source": "Operator"},
                {"proxy": proxy, "workerContract": "0:" + "55" * 32, "tokens": 5, "nano": 5,
                 "txHash": "BB" * 32, "source": "Operator"},
            ]
        }
    }  # fmt: skip
    owner, other = "0:" + "66" * 32, "0:" + "77" * 32
    claims = claims_of("n", status, owner)
    payouts = [PayoutTx(lt=1, tx_hash="aa" * 32, utime=0, source=proxy, value=10, query_id=1)]
    assert [c.tokens for c in confirmed_on_chain(claims, {owner: payouts})] == [10]
    # A payout counts only at the claim's own owner.
    assert confirmed_on_chain(claims, {other: payouts, owner: []}) == []
