"""What the dev stack adds for its CocoonVM sample (issue 15).

- `operator_env()`: the operator's launcher settings as the chart would set them (the demo namespace
  marked for launchers, a launcher image name, the stand-in worker release as the default release,
  served from a file URL, with its SHA-256). The release carries the official `cocoon-launch` when
  ../shared/reference is at hand, else the dev stack's own stand-in (cocoon_dev/runtime/vm/launch.py);
- `sample_objects(namespace)`: the launcher ServiceAccount (the chart makes it in marked namespaces)
  and a development Hugging Face token Secret for the sample's `hfTokenSecretRef`.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cocoon_dev.paths import REPO_ROOT, component_dir
from cocoon_dev.runtime.vm import release as vm_release

LAUNCHER_IMAGE = "localhost/cocoon-launcher:dev"
HF_SECRET = "hf-token"  # noqa: S105 - a Secret's name
DEV_HF_TOKEN = "hf_cocoonDevStandInNotAToken"  # noqa: S105 - the stand-in VM downloads nothing
DEV_ONLY = {"cocoon.tonops.dev/dev-only": "true", "app.kubernetes.io/part-of": "cocoon-dev"}


def official_launcher() -> Path | None:
    """The official cocoon-launch from $COCOON_REFERENCE_DIR or ../shared/reference, if present."""
    roots = [Path(os.environ["COCOON_REFERENCE_DIR"])] if os.environ.get("COCOON_REFERENCE_DIR") else []
    roots += [parent.parent / "shared" / "reference" for parent in (REPO_ROOT, *REPO_ROOT.parents)]
    for root in roots:
        path = root / "cocoon-runner" / "scripts" / "cocoon-launch"
        if path.is_file():
            return path
    return None


def stand_in_release() -> vm_release.PackedRelease:
    return vm_release.build(component_dir("vm"), launcher=official_launcher())


def operator_env(namespace: str) -> dict[str, str]:
    packed = stand_in_release()
    return {
        "COCOON_LAUNCHER_NAMESPACES": json.dumps([namespace]),
        "COCOON_LAUNCHER_IMAGE": LAUNCHER_IMAGE,
        "COCOON_VM_RELEASE_URL": packed.url,
        "COCOON_VM_RELEASE_SHA256": packed.sha256,
    }


def sample_objects(namespace: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "cocoon-launcher", "namespace": namespace, "labels": DEV_ONLY},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": HF_SECRET, "namespace": namespace, "labels": DEV_ONLY},
            "data": {"token": base64.b64encode(DEV_HF_TOKEN.encode()).decode()},
        },
    ]
