"""E2E fixtures: the CRD, a namespace with the referenced ConfigMap, and the operator (KopfRunner).

The operator runs in-process (kopf's KopfRunner, in a thread) so tests can read its write counter.
"""

import contextlib
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


@contextlib.contextmanager
def running_operator(
    cluster: Any,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    health_probes: bool,
    delete_timeout_s: int,
) -> Iterator[OperatorHandle]:
    """The operator for `namespace` (resync 2 s); at the end its CocoonNodes are deleted through it
    (finalizers) before it stops."""
    kubeconfig = str(cluster.kubeconfig)
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("COCOON_RESYNC_SECONDS", "2")
    monkeypatch.setenv("COCOON_FINALIZE_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("COCOON_HEALTH_PROBES", "true" if health_probes else "false")
    monkeypatch.setenv("COCOON_LEASE_NAMESPACE", namespace)
    handle = OperatorHandle(kubeconfig, namespace)
    handle.start()
    try:
        yield handle
    finally:
        cluster.kubectl(
            "delete",
            "cn",
            "--all",
            "-n",
            namespace,
            "--wait=true",
            f"--timeout={delete_timeout_s}s",
            check=False,
        )
        handle.stop()
    assert os.environ.get("KUBECONFIG") == kubeconfig


def _operator_fixture(name: str, *, health_probes: bool, delete_timeout_s: int, doc: str) -> Any:
    def fixture(
        cocoon_crd: Any, worker_namespace: str, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[OperatorHandle]:
        with running_operator(
            cocoon_crd,
            worker_namespace,
            monkeypatch,
            health_probes=health_probes,
            delete_timeout_s=delete_timeout_s,
        ) as handle:
            yield handle

    fixture.__doc__ = doc
    return pytest.fixture(name=name)(fixture)


operator = _operator_fixture(
    "operator",
    health_probes=False,
    delete_timeout_s=60,
    doc="""The operator for the worker namespace. Worker pods here are only simulated by KWOK (no local
    runtime serves them): Triton and the runner are not probed, and InferenceReady follows the pod's
    Ready condition.""",
)
health_operator = _operator_fixture(
    "health_operator",
    health_probes=True,
    delete_timeout_s=90,
    doc="The operator with its health probes on (the default), against pods the local runtime serves.",
)
