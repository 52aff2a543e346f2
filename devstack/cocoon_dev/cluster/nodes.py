"""Applying a fleet profile to a running cluster (create or update every node), and waiting for Ready."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from cocoon_operator.k8s import ApiError, KubeClient
from cocoon_operator.k8s.config import load
from cocoon_operator.k8s.resources import resource

from .errors import ClusterError
from .fleet import PROFILE_ANNOTATION, FakeNode, FleetProfile, load_profile

FIELD_MANAGER = "cocoon-dev-fleet"
APPLY = "application/apply-patch+yaml"
NODES = resource("v1", "Node")


async def _apply_node(kube: KubeClient, node: FakeNode) -> None:
    manifest = node.manifest()
    # Server-side apply: idempotent, and labels/taints dropped from a profile are removed again.
    # Status is only taken from the body on create; later capacity changes go through /status.
    params = {"fieldManager": FIELD_MANAGER, "force": "true"}
    await kube.request("PATCH", NODES.path(None, node.name), params=params, body=manifest, content_type=APPLY)
    status_body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name},
        "status": manifest["status"],
    }
    status_path = NODES.path(None, node.name, "status")
    await kube.request("PATCH", status_path, params=params, body=status_body, content_type=APPLY)


async def apply_nodes(kube: KubeClient, nodes: list[FakeNode]) -> None:
    for node in nodes:
        try:
            await _apply_node(kube, node)
        except ApiError as exc:
            raise ClusterError(f"applying node {node.name} failed: {exc}") from exc


async def prune(kube: KubeClient, profile: FleetProfile, keep: list[FakeNode]) -> list[str]:
    """Delete nodes created from this profile earlier that it no longer declares."""
    wanted = {n.name for n in keep}
    gone: list[str] = []
    for node in await kube.list("v1", "Node"):
        name = node["metadata"]["name"]
        annotations = node["metadata"].get("annotations") or {}
        if annotations.get(PROFILE_ANNOTATION) == profile.name and name not in wanted:
            await kube.delete("v1", "Node", None, name)
            gone.append(name)
    return gone


async def wait_ready(kube: KubeClient, names: list[str], timeout_s: float) -> None:
    """Wait until every named node has condition Ready=True (KWOK's node-initialize stage)."""
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while pending:
        for node in await kube.list("v1", "Node"):
            conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions") or []}
            if conds.get("Ready") == "True":
                pending.discard(node["metadata"]["name"])
        if not pending:
            return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"{len(pending)} node(s) not Ready after {timeout_s:.0f} s (is kwok running?): "
                f"{sorted(pending)[:10]}"
            )
        await asyncio.sleep(0.5)


def apply_profile(
    kubeconfig: Path,
    ref: str | Path,
    scale: int = 1,
    wait_ready_s: float | None = 120.0,
    prune_old: bool = False,
) -> int:
    """Apply a profile (built-in name or file path); returns the number of nodes declared."""
    profile = load_profile(ref)
    nodes = profile.nodes(scale)

    async def run() -> None:
        async with KubeClient(load(str(kubeconfig))) as kube:
            await apply_nodes(kube, nodes)
            if prune_old:
                await prune(kube, profile, nodes)
            if wait_ready_s:
                await wait_ready(kube, [n.name for n in nodes], wait_ready_s)

    asyncio.run(run())  # callers are synchronous (the CLI, `cluster up`, the test fixtures)
    return len(nodes)
