"""Install the canonical CRD into the test cluster (shared by the crd and e2e tiers)."""

from pathlib import Path
from typing import Any

from tests.helpers.k8s import wait_for

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "cocoonnodes.yaml"
CRD_NAME = "cocoonnodes.cocoon.tonops.dev"


def install_crd(cluster: Any) -> None:
    """Server-side apply `crds/cocoonnodes.yaml` and wait until it is Established (idempotent)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE))

    def established() -> str:
        out = cluster.kubectl(
            "get",
            "crd",
            CRD_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Established')].status}",
            check=False,
        )
        return str(out.stdout)

    wait_for(f"CRD {CRD_NAME} Established", established, lambda s: s == "True", timeout_s=60)
    # The CRD is served once discovery knows it; `kubectl get cn` proves both.
    wait_for(
        "cocoonnodes served",
        lambda: cluster.kubectl("get", "cn", "-A", check=False).returncode,
        lambda rc: rc == 0,
        timeout_s=60,
    )
