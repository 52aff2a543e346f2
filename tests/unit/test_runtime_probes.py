"""The dev runtime's container probes: read from the pod spec as a kubelet would, with the period
capped for dev loops and the failure threshold scaled so that the time budget stays the same."""

from __future__ import annotations

from cocoon_dev.runtime.probes import PROBE_PERIOD_MAX_S, Probe

CONTAINER = {"ports": [{"name": "http", "containerPort": 8000}]}


def test_a_slow_probe_keeps_its_time_budget() -> None:
    spec = {"httpGet": {"port": "http", "path": "/ready"}, "periodSeconds": 30, "failureThreshold": 60}
    probe = Probe.from_spec(spec, CONTAINER)
    assert probe is not None and (probe.kind, probe.port, probe.path) == ("http", 8000, "/ready")
    assert probe.timing.period_s == PROBE_PERIOD_MAX_S
    assert probe.timing.period_s * probe.timing.failure_threshold >= 30 * 60


def test_kubelet_defaults_and_kinds() -> None:
    tcp = Probe.from_spec({"tcpSocket": {"port": 9}}, CONTAINER)
    assert tcp is not None and (tcp.kind, tcp.port) == ("tcp", 9)
    assert (tcp.timing.timeout_s, tcp.timing.success_threshold, tcp.timing.initial_delay_s) == (1.0, 1, 0.0)
    exec_probe = Probe.from_spec({"exec": {"command": ["true"]}}, CONTAINER)
    assert exec_probe is not None and exec_probe.kind == "exec"
    assert Probe.from_spec({"httpGet": {"port": "missing"}}, CONTAINER) is None
    assert Probe.from_spec(None, CONTAINER) is None
