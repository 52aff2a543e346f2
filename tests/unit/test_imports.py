"""Package hygiene: no stdlib shadowing, kopf only in handlers, import-linter contracts."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_not_shadowed() -> None:
    import operator

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(operator.__file__).resolve().is_relative_to(stdlib)  # type: ignore[arg-type]
    assert not (ROOT / "operator" / "__init__.py").exists()


def loaded_after(*modules: str) -> set[str]:
    """Top-level packages loaded by importing `modules` in a fresh interpreter."""
    code = (
        f"import sys, {', '.join(modules)}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_core_modules_do_not_import_kopf() -> None:
    core = ("api", "reconcile", "status", "k8s", "settings")
    assert "kopf" not in loaded_after(*(f"cocoon_operator.{m}" for m in core))


def test_package_import_registers_no_handlers() -> None:
    assert "kopf" not in loaded_after("cocoon_operator")


def test_the_operator_process_loads_no_tritonclient() -> None:
    """tritonclient (with numpy and gevent) serves the OpenAI adapter's own process only; the operator's
    probes use its aiohttp client (docs/performance.md)."""
    loaded = loaded_after("cocoon_operator.__main__", "cocoon_operator.handlers", "cocoon_operator.steps")
    assert loaded & {"tritonclient", "numpy", "gevent", "geventhttpclient"} == set()
    assert "tritonclient" in loaded_after("cocoon_operator.worker.openai_adapter")


def test_health_package_imports_neither_kopf_nor_kubernetes() -> None:
    loaded = loaded_after("cocoon_operator.steps.health", "cocoon_operator.worker.triton_client")
    assert loaded & {"kopf", "kubernetes", "kubernetes_asyncio"} == set()


def test_import_linter_contracts() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed")
    out = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
