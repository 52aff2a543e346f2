"""`python -m cocoon_operator run` as a real process: reconciles, serves liveness, stops on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cocoon_dev.ports import free_port
from tests.helpers.k8s import wait_for
from tests.unit.builders import minimal_spec

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_cli_process(cocoon_crd: Any, worker_namespace: str, tmp_path: Path) -> None:
    ns = worker_namespace
    port = free_port()
    env = {**os.environ, "KUBECONFIG": str(cocoon_crd.kubeconfig), "COCOON_RESYNC_SECONDS": "2"}
    env["COCOON_HEALTH_PROBES"] = "false"  # KWOK-only pod: nothing serves Triton or the runner here
    env["COCOON_LEASE_NAMESPACE"] = ns
    log = (tmp_path / "operator.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cocoon_operator", "run", "--standalone", "--namespace", ns,
         "--liveness", f"http://127.0.0.1:{port}/healthz"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        doc = {
            "apiVersion": "cocoon.tonops.dev/v1alpha1",
            "kind": "CocoonNode",
            "metadata": {"name": "cli"},
            "spec": minimal_spec(wallet={"secretRef": {"name": "cli-wallet"}}),
        }
        cocoon_crd.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(doc))

        def ready() -> str:
            out = cocoon_crd.kubectl(
                "get", "cn", "cli", "-n", ns, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
            )
            return str(out.stdout)

        wait_for("CocoonNode Ready via the CLI operator", ready, lambda s: s == "True", timeout_s=90)

        def health() -> dict[str, Any]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
                return dict(json.loads(resp.read()))

        probes = wait_for("liveness answers", health, lambda h: "writes" in h, timeout_s=30)
        assert probes["writes"] > 0 and probes["reconciles"] > 0
        cocoon_crd.kubectl("delete", "cn", "cli", "-n", ns, "--timeout=60s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
    assert proc.returncode == 0, (tmp_path / "operator.log").read_text()[-3000:]
