#!/usr/bin/env bash
# Create .venv-triton: a real Triton Inference Server (CPU, Python backend only) from the
# nvidia-pytriton wheel, kept apart from the operator's venv because the wheel pins numpy<2
# and weighs ~370 MB. Idempotent: re-running only repairs what is missing.
# See /work/shared/docs/triton.md §1.2 and docs/local-runtime.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${COCOON_TRITON_VENV:-$ROOT/.venv-triton}"
PYTRITON_VERSION="0.7.0"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.cocoon-triton-ready"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  PYTHON=python3
fi
py_minor="$("$PYTHON" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"

if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "nvidia-pytriton==$PYTRITON_VERSION py$py_minor" ]] \
   && [[ -x "$VENV/bin/python" ]]; then
  echo "setup-triton: $VENV already set up (nvidia-pytriton==$PYTRITON_VERSION, python $py_minor)"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "nvidia-pytriton==$PYTRITON_VERSION" "numpy<2"

T="$("$VENV/bin/python" -c 'import os,pytriton;print(os.path.dirname(pytriton.__file__))')/tritonserver"
stub="$T/python_backend_stubs/$py_minor/triton_python_backend_stub"
if [[ ! -f "$stub" ]]; then
  echo "setup-triton: no Python backend stub for python $py_minor in the wheel" >&2
  exit 1
fi
# The Python backend looks for its stub in its own directory; the wheel ships one per Python version.
cp -f "$stub" "$T/backends/python/triton_python_backend_stub"
chmod +x "$T/backends/python/triton_python_backend_stub" "$T/bin/tritonserver"

echo "nvidia-pytriton==$PYTRITON_VERSION py$py_minor" > "$STAMP"
echo "setup-triton: ready: $T/bin/tritonserver"
