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


def test_core_modules_do_not_import_kopf() -> None:
    code = (
        "import sys; import cocoon_operator.api, cocoon_operator.reconcile, cocoon_operator.status, "
        "cocoon_operator.k8s, cocoon_operator.settings; print('kopf' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_package_import_registers_no_handlers() -> None:
    code = "import sys, cocoon_operator; print('kopf' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_import_linter_contracts() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed")
    out = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
