"""The COCOON worker runner's `worker-config.json`, rendered without the key.

The official runner reads this file into the TL type `workerRunner.config` (cocoon_api.tl) and reads
a missing field as empty, so every field is rendered, each with the JSON type TON's TL-JSON reader
wants: `Bool` as a JSON boolean, `int` as a number, `string` as a string, `int256` as base64 of 32
bytes. The official template's `rpc_port` (not a TL field; the runner ignores it) is kept so the file
has the template's keys too (docs/worker-pod.md).

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
# The worker's image hash when the spec has none: only a test-mode worker may run without one, and its
# proxies do not check it (pre-flight refuses a production worker without a listed hash).
NO_IMAGE_HASH: Final = bytes(32)


def image_hash_bytes(value: str | None) -> bytes:
    """The spec allows base64 or 64 hex digits (the CRD pattern); None means no hash (zeros)."""
    if value is None:
        return NO_IMAGE_HASH
    return bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)


def runner_config(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    """Every field of `workerRunner.config` (schema order), plus the template's `rpc_port`."""
    return {
        "is_test": spec.worker.mode == "Test",
        "is_testnet": spec.network.testnet,
        "http_port": settings.runner_http_port,
        "rpc_port": settings.runner_http_port + 1,
        "owner_address": spec.owner_address,
        "proxy_connections": 1,
        # The worker's RA-TLS router (SOCKS5): the runner reaches its proxies only through it.
        "connect_to_proxy_via": f"127.0.0.1:{settings.router_port}",
        "model_name": str(spec.model),
        "coefficient": spec.worker_coefficient,
        "root_contract_address": spec.network.root_contract_address,
        "node_wallet_key": KEY_PLACEHOLDER,
        "forward_requests_to": f"127.0.0.1:{settings.triton_openai_port}",
        "ton_config_filename": f"{TON_CONFIG_DIR}/{TON_CONFIG_FILE}",
        "check_proxy_hashes": False,  # the runner checks proxy hashes anyway whenever is_test is false
        "max_active_requests": settings.runner_max_active_requests,
        "image_hash": base64.b64encode(image_hash_bytes(spec.image_hash)).decode(),
        "http_access_hash": "",  # only the operator reaches the port (NetworkPolicy)
    }


def render(spec: CocoonNodeSpec, settings: Settings) -> str:
    """Deterministic JSON text (sorted keys) so an unchanged spec renders byte-identical."""
    return json.dumps(runner_config(spec, settings), indent=2, sort_keys=True) + "\n"


# Runs in the init container: puts the key from the Secret file into the config (no env variable).
RENDER_SCRIPT: Final = (
    "set -eu; umask 077; "
    f'key="$(cat {WALLET_DIR}/node_wallet_key)"; '
    f'sed "s|\\$NODE_WALLET_KEY|${{key}}|" {TEMPLATE_DIR}/{TEMPLATE_FILE} > {CONFIG_DIR}/{CONFIG_FILE}'
)
