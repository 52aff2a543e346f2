"""The control endpoint, the background (threaded) chain and `cocoon-dev chain up|status|down`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pytoniq import LiteClient

from cocoon_dev.ton.background import BackgroundChain
from cocoon_dev.ton.chain import LocalChain
from cocoon_dev.ton.control import ChainControl
from cocoon_dev.ton.server import load_network_deployer
from tests.chain.wallets import TON, wallet_v4

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120)]


@pytest.fixture
async def control(mainnet_config_b64: str) -> AsyncIterator[tuple[LocalChain, httpx.AsyncClient]]:
    chain = LocalChain(config_b64=mainnet_config_b64)
    ctl = ChainControl(chain)
    port = await ctl.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as http:
        yield chain, http
    await ctl.stop()


async def test_control_endpoint(control: tuple[LocalChain, httpx.AsyncClient], tmp_path: Path) -> None:
    chain, http = control
    v4 = await wallet_v4(chain, "control")
    addr = v4.address.to_str()
    r = await http.post("/faucet", json={"address": addr, "amount": 2 * TON})
    assert r.status_code == 200 and r.json()["balance"] == 2 * TON
    status = (await http.get("/status", params={"address": addr})).json()
    assert status["height"] == chain.seqno and status["accounts"] == 1
    assert list(status["balances"].values()) == [2 * TON]
    now = status["now"]
    assert (await http.post("/advance", json={"seconds": 30})).json()["now"] >= now + 30
    snap = tmp_path / "snap.json"
    assert (await http.post("/snapshot", json={"path": str(snap)})).status_code == 200
    await http.post("/faucet", json={"address": addr, "amount": TON})
    assert (await http.post("/restore", json={"path": str(snap)})).json()["accounts"] == 1
    assert chain.balance(v4.address) == 2 * TON
    r = await http.post("/block-interval", json={"ms": 50})
    assert r.json()["block_interval_ms"] == 50
    await http.post("/block-interval", json={"ms": 0})
    # bad input: a clear error naming the field, nothing changed
    for path, body, field in [
        ("/faucet", {"address": addr, "amount": -1}, "amount"),
        ("/faucet", {"address": "nope", "amount": 1}, "address"),
        ("/advance", {"seconds": "x"}, "seconds"),
        ("/restore", {"path": str(tmp_path / "missing.json")}, "path"),
    ]:
        r = await http.post(path, json=body)
        assert r.status_code == 400 and r.json()["error"].startswith(field)
    assert chain.balance(v4.address) == 2 * TON


async def test_background_chain_serves_other_loops(mainnet_config_b64: str) -> None:
    with BackgroundChain(LocalChain(config_b64=mainnet_config_b64)) as bg:
        lite = LiteClient.from_config(bg.global_config, trust_level=2)
        await lite.connect()
        try:
            v4 = await wallet_v4(lite, "background")
            await bg.acall(bg.chain.faucet, v4.address, 3 * TON)
            await v4.send_init_external()
            assert await v4.get_seqno() == 1
        finally:
            await lite.close()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COCOON_DEV_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "cocoon_dev.cli", "chain", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_cli_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _cli(home, "up", "--json", "--no-network")
    try:
        assert up.returncode == 0, up.stderr
        status = json.loads(up.stdout)
        assert status["running"] and status["pid"] > 0
        for key in ("global_config", "root", "owner", "treasury", "proxies", "height", "balances"):
            assert key in status
        cfg = json.loads(Path(status["global_config"]).read_text())
        lite = LiteClient.from_config(cfg, trust_level=2)
        await lite.connect()
        try:
            assert (await lite.get_masterchain_info())["last"]["seqno"] == status["height"]
        finally:
            await lite.close()
        again = _cli(home, "up", "--json")  # reuses the running one
        assert json.loads(again.stdout)["pid"] == status["pid"]
        v4 = await wallet_v4(lite_free_provider(), "cli")
        assert _cli(home, "faucet", v4.address.to_str(), "1.5").returncode == 0
        after = json.loads(_cli(home, "status", "--json").stdout)
        assert after["height"] > status["height"]
        assert after["root"] is None and after["proxies"] == []
    finally:
        down = _cli(home, "down")
    assert down.returncode == 0, down.stderr
    assert not json.loads(_cli(home, "status", "--json").stdout)["running"]
    assert (
        not Path(f"/proc/{status['pid']}").exists()
        or b"cocoon_dev.ton.server" not in Path(f"/proc/{status['pid']}/cmdline").read_bytes()
    )


def lite_free_provider() -> LocalChain:
    """Any provider works to compute a wallet address; a throwaway chain is the cheapest."""
    return LocalChain()


@pytest.mark.skipif(load_network_deployer() is None, reason="cocoon_dev.ton.network is not there")
def test_cli_up_deploys_the_cocoon_network(tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _cli(home, "up", "--json")
    try:
        assert up.returncode == 0, up.stderr
        status = json.loads(up.stdout)
        assert (home / "chain" / "network.json").stat().st_mode & 0o777 == 0o600
        for key in ("root", "owner", "treasury"):
            assert isinstance(status[key], str) and status["states"][status[key]] == "active"
        assert len(status["proxies"]) >= 2
        assert all(status["balances"][p] > 0 for p in status["proxies"])
        assert "private_key" not in up.stdout and "secret" not in up.stdout
    finally:
        assert _cli(home, "down").returncode == 0
