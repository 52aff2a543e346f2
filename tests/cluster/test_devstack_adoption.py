"""`cocoon-dev up` on a dev stack kept from before wallet Secrets were bound to their CocoonNode
(issue 16): the dev stack, as the admin it is, adopts each sample's unmarked wallet Secret for that
sample, and leaves marked ones (and everything but annotations) alone."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from rich.console import Console

from cocoon_dev.stack import manifests, steps

pytestmark = pytest.mark.cluster


def _annotations(cluster: Any, namespace: str, name: str) -> dict[str, str]:
    out = cluster.kubectl("get", "secret", name, "-n", namespace, "-o", "json").stdout
    found: dict[str, str] = json.loads(out)["metadata"].get("annotations") or {}
    return found


def test_older_sample_wallet_secrets_are_adopted_for_their_sample(cluster: Any, namespace: str) -> None:
    def node(name: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"wallet": {"secretRef": {"name": f"{name}-wallet"}}},
        }

    cluster.kubectl(
        "create", "secret", "generic", "old-wallet", "-n", namespace, "--from-literal=node_wallet_key=k"
    )
    cluster.kubectl(
        "create", "secret", "generic", "bound-wallet", "-n", namespace, "--from-literal=node_wallet_key=k"
    )
    cluster.kubectl("annotate", "secret", "bound-wallet", "-n", namespace, f"{manifests.BOUND_UID}=some-uid")
    before = json.loads(cluster.kubectl("get", "secret", "old-wallet", "-n", namespace, "-o", "json").stdout)
    where = {"kubectl": str(cluster.kubectl_path), "kubeconfig": str(cluster.kubeconfig)}
    ctx = steps.StackContext(console=Console(quiet=True), cluster=where)
    nodes = [node("old"), node("bound"), node("absent")]
    steps._adopt_older_wallet_secrets(ctx, copy.deepcopy(nodes))
    assert _annotations(cluster, namespace, "old-wallet") == {manifests.ADOPT_FOR: "old"}
    assert _annotations(cluster, namespace, "bound-wallet") == {manifests.BOUND_UID: "some-uid"}
    after = json.loads(cluster.kubectl("get", "secret", "old-wallet", "-n", namespace, "-o", "json").stdout)
    assert after["data"] == before["data"]
    steps._adopt_older_wallet_secrets(ctx, nodes)  # idempotent
    assert _annotations(cluster, namespace, "old-wallet") == {manifests.ADOPT_FOR: "old"}
