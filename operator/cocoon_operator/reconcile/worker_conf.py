"""The official launcher's `worker.conf`, rendered from the spec without any secret (pure).

`cocoon-launch` reads an INI file with one `[node]` section (`scripts/dist-worker/worker.conf.example`
of the official release names every key). The operator renders everything it knows into the launcher's
ConfigMap and leaves placeholders for what only the launcher pod knows or may hold:

- `$NODE_WALLET_KEY` and `$HF_TOKEN`: from the Secret files the launcher container mounts (never in
  the ConfigMap, an Event, a log or the status);
- `$GPU_PCI_ADDRESS`: the VFIO GPU the device plugin allocated to the container (its environment);
- `$TON_CONFIG`: where the TON global config is mounted.

The launch script substitutes whole lines only (`key = $PLACEHOLDER`), with shell built-ins, so no
secret ever appears on a command line. Values the spec provides are checked to be single-line and
free of `%` (configparser's interpolation character) even though the CRD patterns already exclude both.
"""

from typing import Final

from cocoon_operator.api.spec import CocoonNodeSpec

TEMPLATE_FILE: Final = "worker.conf.tmpl"
KEY_LINE: Final = "node_wallet_key = $NODE_WALLET_KEY"
HF_LINE: Final = "hf_token = $HF_TOKEN"
GPU_LINE: Final = "gpu = $GPU_PCI_ADDRESS"
TON_LINE: Final = "ton_config = $TON_CONFIG"


class UnsafeValue(ValueError):
    """A spec value that would change the INI file's structure (never carries a secret)."""


def _value(field: str, value: object) -> str:
    text = str(value)
    if any(c in text for c in "\r\n%") or text != text.strip() or not text:
        raise UnsafeValue(f"{field} cannot be written to worker.conf (empty, multi-line or contains %)")
    return text


def render(spec: CocoonNodeSpec, *, name: str, namespace: str) -> str:
    """Deterministic text: an unchanged spec renders byte-identical (the pod template's hash)."""
    vm = spec.runtime.vm
    instance = vm.instance if vm is not None else 0
    root = spec.network.root_contract_address
    lines = [
        f"# worker.conf for the official cocoon-launch; cocoon-operator, CocoonNode {namespace}/{name}.",
        "# The launcher pod fills in the $ placeholders (wallet key, Hugging Face token, GPU, TON config).",
        "[node]",
        "type = worker",
        f"model = {_value('spec.model', spec.model)}",
        f"owner_address = {_value('spec.ownerAddress', spec.owner_address)}",
        f"root_contract_address = {_value('spec.network.rootContractAddress', root)}",
        f"worker_coefficient = {int(spec.worker_coefficient)}",
        f"instance = {int(instance)}",
        TON_LINE,
        KEY_LINE,
        GPU_LINE,
    ]
    if vm is not None and vm.hf_token_secret_ref is not None:
        lines.append(HF_LINE)
    if spec.worker.mode == "Test":
        lines.append("test = true")  # the release's test image (debug shell); real TON either way
    return "\n".join(lines) + "\n"
