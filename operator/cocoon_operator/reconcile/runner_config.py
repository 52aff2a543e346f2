"""The COCOON worker runner's `worker-config.json` (cocoon-protocol §2.3), rendered without the key.

The node wallet key never enters the ConfigMap: the template carries the placeholder
`$NODE_WALLET_KEY` (as the official template does) and an init container substitutes it from the
Secret file into a memory-backed volume.
"""

import base64
import json
from typing import Any, Final

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.settings import Settings

KEY_PLACEHOLDER: Final = "$NODE_WALLET_KEY"
TEMPLATE_FILE: Final = "worker-config.json.tmpl"
CONFIG_FILE: Final = "worker-config.json"
TON_CONFIG_DIR: Final = "/etc/cocoon/ton"
TON_CONFIG_FILE: Final = "global.config.json"
TEMPLATE_DIR: Final = "/etc/cocoon/runner"
CONFIG_DIR: Final = "/run/cocoon/config"
WALLET_DIR: Final = "/run/cocoon/wallet"


def image_hash_base64(value: str) -> str:
    """The runner wants int256 as base64; the spec allows base64 or 64 hex digits."""
    if len(value) == 64:
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


def runner_config(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "is_test": spec.worker.mode == "Test",
        "is_testnet": spec.network.testnet,
        "http_port": settings.runner_http_port,
        "proxy_connections": 1,
        "model_name": str(spec.model),
        "ton_config_filename": f"{TON_CONFIG_DIR}/{TON_CONFIG_FILE}",
        "owner_address": spec.owner_address,
        "root_contract_address": spec.network.root_contract_address,
        "node_wallet_key": KEY_PLACEHOLDER,
        "forward_requests_to": f"127.0.0.1:{settings.triton_openai_port}",
        "coefficient": spec.worker_coefficient,
        "max_active_requests": settings.runner_max_active_requests,
    }
    if spec.image_hash:
        config["image_hash"] = image_hash_base64(spec.image_hash)
    return config


def render(spec: CocoonNodeSpec, settings: Settings) -> str:
    """Deterministic JSON text (sorted keys) so an unchanged spec renders byte-identical."""
    return json.dumps(runner_config(spec, settings), indent=2, sort_keys=True) + "\n"


# Runs in the init container: puts the key from the Secret file into the config (no env variable).
RENDER_SCRIPT: Final = (
    "set -eu; umask 077; "
    f'key="$(cat {WALLET_DIR}/node_wallet_key)"; '
    f'sed "s|\\$NODE_WALLET_KEY|${{key}}|" {TEMPLATE_DIR}/{TEMPLATE_FILE} > {CONFIG_DIR}/{CONFIG_FILE}'
)
