"""The project's compiled COCOON contract code, shipped as package data (`cocoon_operator/data/`).

The BoCs are produced by `contracts/compile.mjs` (FunC 0.4.6) and copied here, so the operator never
needs Node. Addresses derived from this code are those of the local dev network, not mainnet's.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

from pytoniq_core.boc.cell import Cell

ContractName = Literal["cocoon_root", "cocoon_proxy", "cocoon_worker", "cocoon_wallet"]
CONTRACT_NAMES: tuple[ContractName, ...] = ("cocoon_root", "cocoon_proxy", "cocoon_worker", "cocoon_wallet")


def _data_text(filename: str) -> str:
    return resources.files("cocoon_operator").joinpath("data", filename).read_text(encoding="utf-8")


@cache
def load_code(name: ContractName) -> Cell:
    """The code cell of one of the project's contracts."""
    if name not in CONTRACT_NAMES:
        raise ValueError(f"unknown contract {name!r}; expected one of {', '.join(CONTRACT_NAMES)}")
    return Cell.one_from_boc(_data_text(f"{name}.code.boc.b64").strip())


def manifest() -> dict[str, object]:
    """The compile manifest (compiler, version and code hash per contract) shipped with the BoCs."""
    result: dict[str, object] = json.loads(_data_text("contracts-manifest.json"))
    return result


def cocoon_wallet_code() -> Cell:
    return load_code("cocoon_wallet")


def cocoon_worker_code() -> Cell:
    return load_code("cocoon_worker")


def cocoon_proxy_code() -> Cell:
    return load_code("cocoon_proxy")


def cocoon_root_code() -> Cell:
    return load_code("cocoon_root")
