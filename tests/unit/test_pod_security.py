"""The generated worker pod against the restricted Pod Security Standard and its production shape.

The API server's own PodSecurity admission is exercised in tests/e2e/test_inference_pod_security.py;
here the pure checker names each rule, so a regression says which field broke it.
"""

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import children, pod_security, runner_config
from cocoon_operator.settings import Settings
from tests.unit.builders import minimal_spec

SETTINGS = Settings()
OWNER = children.Owner(name="w1", namespace="ns1", uid="uid-1")
HASH = "ab" * 32

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "url-model": {"inference": {"modelSource": {"url": "https://models.invalid/m.tar"}, "modelSha256": HASH}},
    "pvc-model": {
        "inference": {
            "modelSource": {"pvc": {"claimName": "models", "subPath": "llm/v1"}},
            "modelSha256": HASH,
        }
    },
    "pvc-no-hash": {"inference": {"modelSource": {"pvc": {"claimName": "models"}}}},
    "kata-multi-gpu": {"placement": {"runtimeClassName": "kata-qemu-nvidia-gpu-tdx", "gpuCount": 2}},
}


def _pod_spec(**overrides: Any) -> dict[str, Any]:
    spec = parse_spec(minimal_spec(**overrides))
    cm = children.configmap(OWNER, spec, SETTINGS)
    sts = children.statefulset(OWNER, spec, SETTINGS, children.config_hash(cm))
    pod: dict[str, Any] = sts["spec"]["template"]["spec"]
    return pod


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in items}


# --- restricted profile --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_pod_meets_restricted_profile(variant: str) -> None:
    assert pod_security.restricted_violations(_pod_spec(**VARIANTS[variant])) == []


BREAKS: list[tuple[str, Any, str]] = [
    ("host-network", lambda p: p.update(hostNetwork=True), "spec.hostNetwork"),
    ("hostpath", lambda p: p["volumes"].append({"name": "dev", "hostPath": {"path": "/dev"}}), "hostPath"),
    ("privileged", lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged"),
    (
        "escalation",
        lambda p: p["initContainers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation",
    ),
    ("root", lambda p: p["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
    ("uid-0", lambda p: p["containers"][1]["securityContext"].update(runAsUser=0), "runAsUser"),
    (
        "seccomp",
        lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile",
    ),
    ("no-drop", lambda p: p["containers"][0]["securityContext"].pop("capabilities"), "capabilities.drop"),
    (
        "add-cap",
        lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
        "SYS_ADMIN",
    ),
    ("host-port", lambda p: p["containers"][0]["ports"][0].update(hostPort=8000), "hostPort"),
    (
        "sysctl",
        lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "sysctl",
    ),
    (
        "selinux",
        lambda p: p["securityContext"].update(seLinuxOptions={"user": "root"}),
        "seLinuxOptions.user",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), BREAKS, ids=[b[0] for b in BREAKS])
def test_checker_names_each_broken_rule(case: str, mutate: Any, expected: str) -> None:
    pod = copy.deepcopy(_pod_spec())
    mutate(pod)
    violations = pod_security.restricted_violations(pod)
    assert violations, case
    assert any(expected in v for v in violations), violations


# --- production shape (issue 5 §1) ---------------------------------------------------------------


def test_triton_flags_probes_and_drain() -> None:
    pod = _pod_spec(inference={"startupTimeout": "45m"})
    triton = _by_name(pod["containers"])["triton"]
    args = triton["args"]
    for flag in (
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        f"--exit-timeout-secs={SETTINGS.triton_exit_timeout_seconds}",
        "--model-repository=/models",
    ):
        assert flag in args
    startup = triton["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 45 * 60  # spec.inference.startupTimeout
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    sleep = int(triton["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert sleep == SETTINGS.prestop_sleep_seconds > 0
    assert pod["terminationGracePeriodSeconds"] > sleep + SETTINGS.triton_exit_timeout_seconds
    ports = {p["name"]: p["containerPort"] for p in triton["ports"]}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}


def test_gpu_requests_equal_limits_and_non_root() -> None:
    pod = _pod_spec(placement={"gpuCount": 2}, inference={"resources": {"limits": {"memory": "64Gi"}}})
    resources = _by_name(pod["containers"])["triton"]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
    assert resources["limits"]["memory"] == "64Gi"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000  # the Triton image's triton-server user
    assert pod["automountServiceAccountToken"] is False


def test_model_mounted_read_only_everywhere_but_the_fetcher() -> None:
    for variant in VARIANTS.values():
        pod = _pod_spec(**variant)
        for c in [*pod["containers"], *pod["initContainers"]]:
            for m in c.get("volumeMounts") or []:
                if m["name"] == "model" and c["name"] != children.FETCH_MODEL_CONTAINER:
                    assert m["readOnly"] is True, (c["name"], m)


def test_pvc_model_is_verified_before_triton() -> None:
    pod = _pod_spec(**VARIANTS["pvc-model"])
    init = pod["initContainers"]
    assert init[0]["name"] == children.VERIFY_MODEL_CONTAINER
    assert init[0]["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "MODEL_SHA256", "value": HASH} in init[0]["env"]
    mount = init[0]["volumeMounts"][0]
    triton_mount = _by_name(pod["containers"])["triton"]["volumeMounts"][0]
    assert (
        mount
        == triton_mount
        == {"name": "model", "mountPath": "/models", "readOnly": True, "subPath": "llm/v1"}
    )
    volume = _by_name(pod["volumes"])["model"]
    assert volume["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    # Without a hash there is nothing to verify against (the CRD requires it only for URLs).
    assert [c["name"] for c in _pod_spec(**VARIANTS["pvc-no-hash"])["initContainers"]] == ["render-config"]


def test_url_model_is_fetched_and_verified_first() -> None:
    pod = _pod_spec(**VARIANTS["url-model"])
    fetch = pod["initContainers"][0]
    assert fetch["name"] == children.FETCH_MODEL_CONTAINER
    assert fetch["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert _by_name(pod["volumes"])["model"] == {"name": "model", "emptyDir": {}}


def _run(script: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    local = script.replace("/models;", f"{repo};")
    return subprocess.run(
        ["/bin/sh", "-c", local],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_verify_script_accepts_the_documented_manifest_digest_and_rejects_others(tmp_path: Path) -> None:
    repo = tmp_path / "models"
    (repo / "llm" / "1").mkdir(parents=True)
    (repo / "llm" / "config.pbtxt").write_text('backend: "python"\n')
    (repo / "llm" / "1" / "model.py").write_text("# weights stand-in\n")
    (repo / "llm" / "1" / "tokenizer config.json").write_text("{}\n")  # a space in a name
    digest = subprocess.run(
        ["/bin/sh", "-c", f"({children.MANIFEST_COMMAND}) | sha256sum"],
        cwd=repo, capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()[0]  # fmt: skip
    ok = _run(children.VERIFY_SCRIPT, repo, {"MODEL_SHA256": digest})
    assert ok.returncode == 0, ok.stderr
    assert "3 files" in ok.stdout
    (repo / "llm" / "1" / "model.py").write_text("# tampered\n")
    bad = _run(children.VERIFY_SCRIPT, repo, {"MODEL_SHA256": digest})
    assert bad.returncode == children.MODEL_MISMATCH_EXIT_CODE
    assert "model integrity check failed" in bad.stderr and digest in bad.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = _run(children.VERIFY_SCRIPT, empty, {"MODEL_SHA256": digest})
    assert none.returncode == children.MODEL_MISMATCH_EXIT_CODE and "is empty" in none.stderr


def test_wallet_key_reaches_the_runner_as_a_file_never_as_env() -> None:
    pod = _pod_spec(**VARIANTS["url-model"])
    for c in [*pod["containers"], *pod["initContainers"]]:
        for env in c.get("env") or []:
            assert "valueFrom" not in env, (c["name"], env)
        assert "envFrom" not in c
        mounts = {m["name"] for m in c.get("volumeMounts") or []}
        assert ("wallet" in mounts) == (c["name"] == "render-config"), c["name"]
    runner = _by_name(pod["containers"])["runner"]
    assert runner["args"] == ["-c", f"{runner_config.CONFIG_DIR}/{runner_config.CONFIG_FILE}"]
    config_volume = _by_name(pod["volumes"])["runner-config"]
    assert config_volume["emptyDir"]["medium"] == "Memory"  # the rendered key never touches disk


def test_network_policy_lets_only_the_operator_in() -> None:
    settings = Settings(operator_namespace="ops", operator_pod_labels={"app": "cocoon-op"})
    policy = children.network_policy(OWNER, settings, children.ports(parse_spec(minimal_spec()), settings))
    [rule] = policy["spec"]["ingress"]
    [peer] = rule["from"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}
    assert peer["podSelector"] == {"matchLabels": {"app": "cocoon-op"}}
    assert {p["port"] for p in rule["ports"]} == {12000, 8000, 8002}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
