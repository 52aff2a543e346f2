"""Operator settings come from COCOON_* environment variables."""

import pytest
from pydantic import ValidationError

from cocoon_operator.settings import Settings, parse_labels


def test_defaults() -> None:
    s = Settings()
    assert s.gpu_resource == "nvidia.com/gpu"
    assert s.cc_ready_label == "nvidia.com/cc.ready.state=true"
    assert "feature.node.kubernetes.io/cpu-security.tdx.protected=true" in s.tdx_labels
    assert s.ton_trust_level == 2


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOON_RESYNC_SECONDS", "2.5")
    monkeypatch.setenv("COCOON_TDX_LABELS", '["example.com/tee=tdx"]')
    monkeypatch.setenv("COCOON_OPERATOR_NAMESPACE", "ops")
    s = Settings()
    assert s.resync_seconds == 2.5
    assert s.tdx_labels == ("example.com/tee=tdx",)
    assert s.operator_namespace == "ops"


def test_invalid_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCOON_RESYNC_SECONDS", "0")
    with pytest.raises(ValidationError, match="resync_seconds"):
        Settings()


def test_parse_labels() -> None:
    assert parse_labels(("a=b", "c")) == (("a", "b"), ("c", "true"))
