"""The `cocoon-operator` entry point parses its options (the run itself is covered by e2e tests)."""

import subprocess
import sys

import pytest

from cocoon_operator.__main__ import _parser


def test_run_options() -> None:
    args = _parser().parse_args(
        ["run", "--namespace", "a", "-n", "b", "--liveness", "http://0.0.0.0:8080/healthz", "--standalone"]
    )
    assert args.namespace == ["a", "b"] and args.standalone and args.liveness.endswith("/healthz")
    assert _parser().parse_args(["run", "--all-namespaces"]).all_namespaces
    with pytest.raises(SystemExit):
        _parser().parse_args(["run", "--namespace", "a", "--all-namespaces"])


def test_python_m_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cocoon_operator", "run", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "--all-namespaces" in out.stdout
