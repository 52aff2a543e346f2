"""The operator's contract code is the official COCOON code, with its provenance and licence beside it."""

from __future__ import annotations

import pytest

from cocoon_operator.ton.codes import (
    CONTRACT_NAMES,
    OFFICIAL_CODE_HASHES,
    cocoon_wallet_code,
    load_code,
    official_contract,
    provenance,
)
from tests.helpers.reference import REPO

DATA = REPO / "operator" / "cocoon_operator" / "data" / "official"
# The wallet code the official worker runner hard-codes (CocoonWallet::code_str()); every worker's
# cocoon wallet address derives from it.
RUNNER_WALLET_CODE_HASH = "7a48f05ceef40f06cabbaa39c1c5a67b24e8bb59d8cf8a74e49988a5f44cf66a"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_package_data_is_the_recorded_official_code(name: str) -> None:
    contracts = provenance()["contracts"]
    assert isinstance(contracts, dict)
    assert load_code(name).hash.hex() == OFFICIAL_CODE_HASHES[name] == contracts[name]["code_hash"]
    assert official_contract(load_code(name).hash) == name


def test_wallet_code_is_the_runners() -> None:
    assert cocoon_wallet_code().hash.hex() == RUNNER_WALLET_CODE_HASH


def test_provenance_names_source_and_compiler_and_licence_ships() -> None:
    record = provenance()
    source, compiler = record["source"], record["compiler"]
    assert isinstance(source, dict) and isinstance(compiler, dict)
    assert source["commit"] == "9f71257" and "cocoon-contracts" in source["repository"]
    assert compiler["version"] == "0.4.6" and compiler["package_version"] == "0.11.0"
    assert "Apache License" in (DATA / "LICENSE").read_text()
    assert "Telegram FZ-LLC" in (DATA / "NOTICE").read_text()


def test_unknown_code() -> None:
    assert official_contract(b"\x00" * 32) is None
    with pytest.raises(ValueError, match="unknown contract"):
        load_code("cocoon_other")  # type: ignore[arg-type]
