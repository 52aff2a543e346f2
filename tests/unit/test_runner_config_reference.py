"""The runner config the operator renders is one the official runner accepts, field by field.

The oracle is the official TL schema (`workerRunner.config` in `cocoon_api.tl`) and the official
template (`spec/spec-worker/worker-config.json`), both read from `../shared/reference`; the runner
simulator's reader must agree with them and refuse what the official runner refuses, in its words.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cocoon_dev.runtime.runner_sim.config import WORKER_RUNNER_CONFIG, ConfigError, WorkerConfig
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import runner_config
from cocoon_operator.settings import Settings
from tests.helpers.reference import require_reference
from tests.unit.builders import minimal_spec as spec_dict

SETTINGS = Settings()
KEY = base64.b64encode(bytes(range(32))).decode()


def tl_fields(constructor: str) -> list[tuple[str, str]]:
    """`name:type` pairs of one TL constructor, in order, from the reference schema."""
    text = require_reference("cocoon-runner", "tl", "cocoon_api.tl").read_text()
    match = re.search(rf"^{re.escape(constructor)}\s+(.*?)=\s*\S+;", text, re.S | re.M)
    assert match, f"{constructor} not in the TL schema"
    return [tuple(part.split(":", 1)) for part in match.group(1).split()]  # type: ignore[misc]


def official_template() -> dict[str, Any]:
    path = require_reference("cocoon-runner", "spec", "spec-worker", "worker-config.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def rendered(tmp_path: Path, **spec: Any) -> dict[str, Any]:
    """The config as the worker pod sees it: the operator's template with the key put in by the
    init container's real script."""
    parsed = parse_spec(spec_dict(**spec))
    (tmp_path / "tmpl").mkdir()
    (tmp_path / "wallet").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "tmpl" / runner_config.TEMPLATE_FILE).write_text(runner_config.render(parsed, SETTINGS))
    (tmp_path / "wallet" / "node_wallet_key").write_text(KEY + "\n")
    script = (
        runner_config.RENDER_SCRIPT.replace(runner_config.TEMPLATE_DIR, str(tmp_path / "tmpl"))
        .replace(runner_config.WALLET_DIR, str(tmp_path / "wallet"))
        .replace(runner_config.CONFIG_DIR, str(tmp_path / "out"))
    )
    subprocess.run(["/bin/sh", "-c", script], check=True)
    data: dict[str, Any] = json.loads((tmp_path / "out" / runner_config.CONFIG_FILE).read_text())
    return data


def test_the_simulator_reads_the_official_fields() -> None:
    assert list(WORKER_RUNNER_CONFIG) == tl_fields("workerRunner.config")


def _fits(value: Any, tl_type: str) -> bool:
    """Strict JSON typing of each TL type (what the operator must write, not all the reader takes)."""
    if tl_type == "Bool":
        return isinstance(value, bool)
    if tl_type == "int":
        return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    if tl_type == "string":
        return isinstance(value, str)
    if tl_type == "int256":
        return isinstance(value, str) and len(base64.b64decode(value, validate=True)) == 32
    raise AssertionError(f"unexpected TL type {tl_type}")


@pytest.mark.parametrize("mode", ["Production", "Test"])
def test_every_field_is_rendered_with_its_tl_type(tmp_path: Path, mode: str) -> None:
    config = rendered(tmp_path, worker={"image": "w:1", "mode": mode}, imageHash="ab" * 32)
    wrong = {
        name: config.get(name)
        for name, tl_type in tl_fields("workerRunner.config")
        if not _fits(config.get(name), tl_type)
    }
    assert wrong == {}
    assert config["is_test"] is (mode == "Test")
    assert config["connect_to_proxy_via"] == "127.0.0.1:8116"  # the router port of the official image
    assert base64.b64decode(config["image_hash"]) == bytes.fromhex("ab" * 32)
    assert config["node_wallet_key"] == KEY


def test_keys_are_the_schema_and_the_official_templates(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    schema = {name for name, _ in tl_fields("workerRunner.config")}
    template = set(official_template())
    assert template <= set(config), "a key of the official template is missing"
    assert set(config) == schema | template, "a key that neither the schema nor the template has"


def test_the_simulator_accepts_the_rendered_config(tmp_path: Path) -> None:
    spec = spec_dict()
    config = WorkerConfig.from_dict(rendered(tmp_path))
    assert config.node_wallet_key == bytes(range(32))
    assert config.owner_address == spec["ownerAddress"]
    assert config.connect_to_proxy_via == "127.0.0.1:8116"


def test_the_simulator_accepts_the_official_template_rendered() -> None:
    """The template as the official image fills it (`cocoon-render-config`): quoted numbers and all."""
    spec = spec_dict()
    values = {
        "IS_DEBUG": "1",
        "MODEL_NAME": "Qwen/Qwen3-8B",
        "MODEL_COMMIT": "b968826d9c46dd6066d109eabc6255188de91218",
        "MODEL_VERITY_HASH": "7e" * 32,
        "TON_CONFIG_FILE": "/run/spec/global.config.json",
        "OWNER_ADDRESS": spec["ownerAddress"],
        "TDX_IMAGE_HASH": base64.b64encode(bytes(32)).decode(),
        "ROOT_CONTRACT_ADDRESS": spec["network"]["rootContractAddress"],
        "NODE_WALLET_KEY": KEY,
        "WORKER_COEFFICIENT": "1000",
    }
    text = json.dumps(official_template())
    for name, value in values.items():
        text = text.replace(f"${name}", value)
    config = WorkerConfig.from_dict(json.loads(text))
    assert config.is_test and config.coefficient == 1000 and config.max_active_requests == 60


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"connect_to_proxy_via": None}, "failed to parse runner config: expected <ip>:<port>"),
        ({"connect_to_proxy_via": ""}, "failed to parse runner config: expected <ip>:<port>"),
        ({"owner_address": None}, "failed to parse runner config: failed to parse owner address"),
        (
            {"root_contract_address": "nope"},
            "failed to parse runner config: cannot parse root contract address",
        ),
        ({"is_test": "yes"}, "json does not fit TL scheme: Expected bool, got String"),
        ({"coefficient": 1.5}, 'json does not fit TL scheme: Can\'t parse "1.5" as an integer'),
        ({"model_name": 7}, "json does not fit TL scheme: Expected string, got Number"),
        (
            {"image_hash": base64.b64encode(bytes(31)).decode()},
            "json does not fit TL scheme: Wrong length for UInt",
        ),
        (
            {"node_wallet_key": "$NODE_WALLET_KEY"},
            "json does not fit TL scheme: Wrong character in the string",
        ),
    ],
)
def test_the_simulator_refuses_what_the_runner_refuses(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    config = rendered(tmp_path)
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    with pytest.raises(ConfigError) as err:
        WorkerConfig.from_dict(config)
    assert message in str(err.value)
    assert KEY not in str(err.value)


def test_a_missing_field_keeps_its_default_like_the_runner(tmp_path: Path) -> None:
    config = rendered(tmp_path)
    for key in ("check_proxy_hashes", "http_access_hash", "max_active_requests", "image_hash", "is_testnet"):
        config.pop(key)
    parsed = WorkerConfig.from_dict(config)
    assert (
        parsed.image_hash == bytes(32) and parsed.max_active_requests == 200 and not parsed.check_proxy_hashes
    )
    with pytest.raises(ConfigError):
        WorkerConfig.from_dict({**config, "owner_address": ""})
