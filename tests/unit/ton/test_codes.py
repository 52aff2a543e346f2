"""The operator's packaged contract code matches the compiled BoCs and the manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon_operator.ton.codes import CONTRACT_NAMES, load_code, manifest

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "operator" / "cocoon_operator" / "data"
BUILD = REPO / "contracts" / "build"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_package_data_matches_manifest_and_build(name: str) -> None:
    contracts = manifest()["contracts"]
    assert isinstance(contracts, dict)
    assert load_code(name).hash.hex() == contracts[name]["code_hash"]
    packaged = (DATA / f"{name}.code.boc.b64").read_text()
    built = (BUILD / f"{name}.code.boc.b64").read_text()
    assert packaged == built, f"{name}: operator package data is stale; rerun `node contracts/compile.mjs`"


def test_manifest_copy_is_current() -> None:
    assert (DATA / "contracts-manifest.json").read_text() == (BUILD / "manifest.json").read_text()


def test_unknown_contract() -> None:
    with pytest.raises(ValueError, match="unknown contract"):
        load_code("cocoon_client")  # type: ignore[arg-type]
