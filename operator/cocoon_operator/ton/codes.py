"""The official COCOON contracts' code cells: protocol constants of the operator.

`data/official/` holds the compiled code (BoC) of the official root, proxy, worker, wallet and client
contracts, built from the official FunC sources with the pinned FunC 0.4.6, with their provenance and
the upstream LICENSE and NOTICE (docs/contracts.md). The cocoon wallet's cell is bit for bit the one
the official worker runner hard-codes to derive every worker's wallet address; deriving addresses from
any other code would send money to accounts nobody uses.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Final, Literal

from pytoniq_core.boc.cell import Cell

ContractName = Literal["cocoon_root", "cocoon_proxy", "cocoon_worker", "cocoon_wallet", "cocoon_client"]
CONTRACT_NAMES: tuple[ContractName, ...] = (
    "cocoon_root",
    "cocoon_proxy",
    "cocoon_worker",
    "cocoon_wallet",
    "cocoon_client",
)

# The official code hashes (FunC 0.4.6). Written out so a stale package-data file cannot pass silently
# (tests/unit/ton/test_codes.py compares them with the BoCs, the reference test with a recompile).
OFFICIAL_CODE_HASHES: Final[dict[ContractName, str]] = {
    "cocoon_root": "5b07c6bd0c34735874dfa3548cd9a01c78be1e0fdf20d0c5ebe37776396c5400",
    "cocoon_proxy": "00b2c57d43c1dbc3e12cfa240494a168c78feca90a9b99ebe796b139ed713890",
    "cocoon_worker": "1aaa0512c489a0382b163f7d706e2b4182f1a38fcc46208be5fa22d7faed5aa7",
    "cocoon_wallet": "7a48f05ceef40f06cabbaa39c1c5a67b24e8bb59d8cf8a74e49988a5f44cf66a",
    "cocoon_client": "974d24538e6003b1a393f8708525b81324cf8a78aee88b4585d51b6f64555147",
}


def _data_text(filename: str) -> str:
    return (
        resources.files("cocoon_operator").joinpath("data", "official", filename).read_text(encoding="utf-8")
    )


@cache
def load_code(name: ContractName) -> Cell:
    """The code cell of one of the official contracts."""
    if name not in CONTRACT_NAMES:
        raise ValueError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACT_NAMES)}")
    return Cell.one_from_boc(_data_text(f"{name}.code.boc.b64").strip())


def provenance() -> dict[str, object]:
    """Where the BoCs come from: repository, commit, compiler and code hash per contract."""
    result: dict[str, object] = json.loads(_data_text("provenance.json"))
    return result


def official_contract(code_hash: bytes | str) -> ContractName | None:
    """Which official contract has this code hash (None: code the operator does not know)."""
    text = code_hash.hex() if isinstance(code_hash, bytes) else code_hash.lower()
    return next((name for name, known in OFFICIAL_CODE_HASHES.items() if known == text), None)


def cocoon_wallet_code() -> Cell:
    return load_code("cocoon_wallet")


def cocoon_worker_code() -> Cell:
    return load_code("cocoon_worker")


def cocoon_proxy_code() -> Cell:
    return load_code("cocoon_proxy")


def cocoon_root_code() -> Cell:
    return load_code("cocoon_root")


def cocoon_client_code() -> Cell:
    return load_code("cocoon_client")
