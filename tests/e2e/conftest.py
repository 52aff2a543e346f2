"""E2E fixtures: the CRD, a namespace with the referenced ConfigMap, and the operator (KopfRunner).

The operator runs in-process (kopf's KopfRunner, in a thread) so tests can read its write counter.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
from kopf.testing import KopfRunner

from tests.crd.support import install_crd

# Leader election timings for tests that kill the operator: its successor waits at most ~4 s.
# Short Lease timings so a SIGKILLed leader's successor takes over soon. COCOON_TEST_LEASE=default
# runs with the chart's defaults (15/10/2 s) instead, to measure the handover a real install sees.
SHORT_LEASE = (
    {
        "COCOON_LEASE_SECONDS": "15",
        "COCOON_LEASE_RENEW_DEADLINE_SECONDS": "10",
        "COCOON_LEASE_RETRY_SECONDS": "2",
    }
    if os.environ.get("COCOON_TEST_LEASE") == "default"
    else {
        "COCOON_LEASE_SECONDS": "3",
        "COCOON_LEASE_RENEW_DEADLINE_SECONDS": "2",
        "COCOON_LEASE_RETRY_SECONDS": "0.5",
    }
)


@pytest.fixture(scope="session")
def cocoon_crd(cluster: Any) -> Any:
    install_crd(cluster)
    return cluster


@pytest.fixture
def worker_namespace(cocoon_crd: Any, namespace: str) -> str:
    cocoon_crd.kubectl(
        "create", "configmap", "ton-global-config", "-n", namespace, "--from-literal=global.config.json={}"
    )
    return namespace


class OperatorHandle:
    """Starts/stops the operator for one namespace; restartable."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        self._runner: KopfRunner | None = None

    def start(self) -> None:
        assert self._runner is None
        args = ["run", "--standalone", "--namespace", self.namespace, "-m", "cocoon_operator.handlers"]
        self._runner = KopfRunner(args, timeout=60)
        self._runner.__enter__()

    def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            runner.__exit__(None, None, None)
            assert runner.exception is None, runner.exception


@pytest.fixture
def operator(
    cocoon_crd: Any, worker_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OperatorHandle]:
    kubeconfig = str(cocoon_crd.kubeconfig)
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("COCOON_RESYNC_SECONDS", "2")
    monkeypatch.setenv("COCOON_FINALIZE_TIMEOUT_SECONDS", "30")
    # Worker pods here are only simulated by KWOK (no local runtime serves them): Triton and the runner
    # are not probed, and InferenceReady follows the pod's Ready condition.
    monkeypatch.setenv("COCOON_HEALTH_PROBES", "false")
    monkeypatch.setenv("COCOON_LEASE_NAMESPACE", worker_namespace)
    handle = OperatorHandle(kubeconfig, worker_namespace)
    handle.start()
    try:
        yield handle
    finally:
        # CocoonNodes go through the operator before the namespace does (finalizers).
        cocoon_crd.kubectl(
            "delete", "cn", "--all", "-n", worker_namespace, "--wait=true", "--timeout=60s", check=False
        )
        handle.stop()
    assert os.environ.get("KUBECONFIG") == kubeconfig
