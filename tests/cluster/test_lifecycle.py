"""`cocoon-dev cluster up|status|down` on a throw-away cluster of its own (not the session cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from cocoon_dev import procs

pytestmark = pytest.mark.cluster


def _cli(*args: str, home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COCOON_DEV_HOME": str(home)}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "cocoon_dev.cli", "cluster", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _status(home: Path) -> dict[str, Any]:
    out = _cli("status", "--json", home=home)
    assert out.returncode == 0, out.stderr
    info: dict[str, Any] = json.loads(out.stdout)
    return info


def test_up_status_reuse_down_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    workdir = home / "cluster"
    try:
        # No fleet: this test is about processes; ExtendedResourceToleration shows options reach the server.
        up = _cli("up", "--no-build", "--fleet", "none", "--extended-resource-toleration", home=home)
        assert up.returncode == 0, up.stdout + up.stderr
        info = _status(home)
        assert info["running"] is True
        assert Path(info["kubeconfig"]).is_absolute() and Path(info["kubeconfig"]).is_file()
        assert set(info["pids"]) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        assert info["kubeconfig"] in up.stdout
        pids = info["pids"]
        identities = {name: procs.ref(pid, name) for name, pid in pids.items()}
        assert all(identities.values())

        again = _cli("up", "--no-build", "--fleet", "none", home=home)
        assert again.returncode == 0 and "reused" in again.stdout, again.stdout + again.stderr
        assert _status(home)["pids"] == pids

        with config.new_client_from_config(config_file=info["kubeconfig"]) as api:
            core = client.CoreV1Api(api)
            pod = core.create_namespaced_pod(
                "default",
                {
                    "metadata": {"name": "gpu"},
                    "spec": {
                        "containers": [
                            {
                                "name": "m",
                                "image": "cocoon-test/fake:1",
                                "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            }
                        ]
                    },
                },
            )
            keys = {t.key for t in pod.spec.tolerations or []}
            assert "nvidia.com/gpu" in keys, "ExtendedResourceToleration did not add the GPU toleration"
    finally:
        down = _cli("down", home=home)
    assert down.returncode == 0, down.stdout + down.stderr
    assert procs.find(f"{workdir}/") == []
    for proc in identities.values():
        assert not proc.alive()
    assert _status(home)["running"] is False
