"""Applying a fleet profile to a running cluster (create or update every node), and waiting for Ready."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client import ApiException

from .errors import ClusterError
from .fleet import PROFILE_ANNOTATION, FakeNode, FleetProfile, load_profile

FIELD_MANAGER = "cocoon-dev-fleet"
APPLY = "application/apply-patch+yaml"


def api_client(kubeconfig: Path) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def _list_nodes(core: client.CoreV1Api) -> list[dict[str, Any]]:
    """Nodes as plain JSON (the generated models make every field optional)."""
    resp: Any = core.list_node(_preload_content=False)  # raw urllib3 response
    items: list[dict[str, Any]] = json.loads(resp.data)["items"]
    return items


def _apply_node(core: client.CoreV1Api, node: FakeNode) -> None:
    manifest = node.manifest()
    # Server-side apply: idempotent, and labels/taints dropped from a profile are removed again.
    # Status is only taken from the body on create; later capacity changes go through /status.
    core.patch_node(node.name, manifest, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)
    status_body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name},
        "status": manifest["status"],
    }
    core.patch_node_status(
        node.name, status_body, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY
    )


def apply_nodes(kubeconfig: Path, nodes: list[FakeNode]) -> None:
    with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        for node in nodes:
            try:
                _apply_node(core, node)
            except ApiException as exc:
                raise ClusterError(
                    f"applying node {node.name} failed: {exc.status} {exc.reason}: {exc.body}"
                ) from exc


def prune(kubeconfig: Path, profile: FleetProfile, keep: list[FakeNode]) -> list[str]:
    """Delete nodes created from this profile earlier that it no longer declares."""
    wanted = {n.name for n in keep}
    gone: list[str] = []
    with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        for node in _list_nodes(core):
            name = node["metadata"]["name"]
            annotations = node["metadata"].get("annotations") or {}
            if annotations.get(PROFILE_ANNOTATION) == profile.name and name not in wanted:
                core.delete_node(name)
                gone.append(name)
    return gone


def wait_ready(kubeconfig: Path, names: list[str], timeout_s: float) -> None:
    """Wait until every named node has condition Ready=True (KWOK's node-initialize stage)."""
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        while pending:
            for node in _list_nodes(core):
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
            time.sleep(0.5)


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
    apply_nodes(kubeconfig, nodes)
    if prune_old:
        prune(kubeconfig, profile, nodes)
    if wait_ready_s:
        wait_ready(kubeconfig, [n.name for n in nodes], wait_ready_s)
    return len(nodes)
