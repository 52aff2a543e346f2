"""Kubeconfig files: the admin one users get, and one per component."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from .pki import CertPair

CONTEXT = "cocoon-dev"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def render(server: str, ca: Path, client: CertPair, user: str, context: str = CONTEXT) -> dict[str, Any]:
    """A self-contained kubeconfig (certificates embedded, so the file can be copied anywhere)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(client.cert), "client-key-data": _b64(client.key)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    """Write atomically with mode 0600 (it holds a private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out, sort_keys=False)
    tmp.replace(path)
    return path
