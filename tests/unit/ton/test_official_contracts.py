"""The committed code cells are what the official FunC sources compile to, bit for bit.

Compiles `../shared/reference/cocoon-contracts/contracts/*.fc` with the pinned FunC 0.4.6
(`contracts/package-lock.json`) and compares every BoC with the committed protocol artifacts. Runs
whenever the reference exists (as in this project's CI); skips, naming where it looked, otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from pytoniq_core.boc.address import Address

from cocoon_operator.ton.addresses import cocoon_wallet_address, public_key_from_seed, raw_address
from cocoon_operator.ton.ops import CocoonError, Op
from tests.helpers.reference import REPO, require_reference

CONTRACTS = REPO / "contracts"
HINT = "rebuild with `cd contracts && npm ci && node compile.mjs --write` and commit the artifacts"


def _ensure_node_modules() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot compile the official FunC contracts")
    if (CONTRACTS / "node_modules" / "@ton-community" / "func-js").is_dir():
        return
    if shutil.which("npm") is None:
        pytest.skip("contracts/node_modules is absent and npm is not installed")
    try:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CONTRACTS,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("contracts/node_modules is absent and `npm ci` timed out (no package registry?)")
    if done.returncode != 0:
        pytest.skip(f"contracts/node_modules is absent and `npm ci` failed: {done.stderr.strip()[-300:]}")


def test_compiler_pin_agrees_with_provenance() -> None:
    record = json.loads((REPO / "operator/cocoon_operator/data/official/provenance.json").read_text())
    lock = json.loads((CONTRACTS / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/@ton-community/func-js"]["version"]
    assert locked == record["compiler"]["package_version"]


@pytest.mark.slow
def test_official_sources_compile_to_the_committed_cells() -> None:
    sources = require_reference("cocoon-contracts", "contracts")
    _ensure_node_modules()
    done = subprocess.run(
        ["node", "compile.mjs", "--check", "--reference", str(sources.parent)],
        cwd=CONTRACTS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), f"compile.mjs failed: {done.stderr.strip()}"
    report = json.loads(done.stdout)
    assert report["func_version"] == "0.4.6"
    details = {name: report["contracts"][name] for name in report["differ"]}
    assert not report["differ"], f"committed code differs from the reference: {details}; {HINT}"
    assert report["contracts"]["cocoon_wallet"]["compiled"].startswith("7a48f05c")


def _constants(prefix: str) -> dict[str, int]:
    text = require_reference("cocoon-contracts", "contracts", "opcodes.fc").read_text()
    found = re.findall(rf"const int {prefix}::(\w+) = (0x[0-9a-fA-F]+|\d+);", text)
    return {name: int(value, 0) for name, value in found}


def test_every_opcode_the_operator_uses_is_official() -> None:
    official = set(_constants("op").values())
    # proxy_save_state is the proxy runner's commit payload inside do_not_process, not a contract op
    ours = {op for op in Op if op is not Op.PROXY_SAVE_STATE}
    assert {op.name for op in ours if op.value not in official} == set()


def test_every_error_code_the_operator_knows_is_official() -> None:
    official = _constants("error")
    for err in CocoonError:
        if err.name.startswith("WALLET_"):
            continue
        assert official.get(err.name.lower()) == err.value, err.name
    wallet = require_reference("cocoon-contracts", "contracts", "cocoon_wallet.fc").read_text()
    thrown = {int(code) for code in re.findall(r"throw_(?:if|unless)\((\d+),", wallet)}
    assert {e.value for e in CocoonError if e.name.startswith("WALLET_")} == thrown


@pytest.mark.slow
def test_wallet_address_is_the_one_the_official_runner_derives() -> None:
    """The address the operator derives (and reports as status.walletAddress) equals an independent
    derivation (@ton/core) from the reference-compiled wallet code and the runner's data layout."""
    reference = require_reference("cocoon-contracts", "contracts").parent
    _ensure_node_modules()
    seed = bytes(range(32))
    owner = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m"
    public = public_key_from_seed(seed)
    done = subprocess.run(
        [
            "node",
            "wallet-address.mjs",
            "--reference",
            str(reference),
            "--public-key",
            public.hex(),
            "--owner",
            owner,
        ],
        cwd=CONTRACTS,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == raw_address(cocoon_wallet_address(public, Address(owner)))
