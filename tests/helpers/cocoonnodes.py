"""CocoonNodes in the e2e tests: create one from the minimal spec, read it, read one of its conditions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.builders import minimal_spec


def create(cluster: Any, namespace: str, name: str, **spec: Any) -> None:
    doc = {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": name},
        "spec": minimal_spec(wallet={"secretRef": {"name": f"{name}-wallet"}}, **spec),
    }
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(doc))


def get(cluster: Any, namespace: str, name: str) -> dict[str, Any]:
    """The CocoonNode, or {} when there is none (yet)."""
    out = cluster.kubectl("get", "cn", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond["type"] == type_:
            return dict(cond)
    return {}


def provide_chain(cluster: Any, namespace: str, global_config: Path, treasury: Any) -> None:
    """What CocoonNodes of `namespace` reference on the dev chain: the TON global config ConfigMap and
    the treasury Secret (a `cocoon_dev` DevWallet)."""
    cluster.kubectl(
        "create", "configmap", "ton-global-config", "-n", namespace,
        f"--from-file=global.config.json={global_config}",
    )  # fmt: skip
    cluster.kubectl(
        "create", "secret", "generic", "treasury", "-n", namespace,
        f"--from-literal=privateKey={treasury.private_key}", "--from-literal=version=v4r2",
        f"--from-literal=walletId={treasury.wallet_id}",
    )  # fmt: skip
