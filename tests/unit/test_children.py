"""Desired children: shape, safety properties and determinism."""

import base64
import json
import subprocess
from pathlib import Path

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import children, runner_config
from cocoon_operator.settings import Settings
from tests.unit.builders import MODEL, OWNER, ROOT_ADDRESS, minimal_spec

SETTINGS = Settings()
OWNER_REF = children.Owner(name="w1", namespace="ns1", uid="uid-1")


def _sts(**spec_overrides: object) -> dict:
    spec = parse_spec(minimal_spec(**spec_overrides))
    cm = children.configmap(OWNER_REF, spec, SETTINGS)
    return children.statefulset(OWNER_REF, spec, SETTINGS, children.config_hash(cm))


def _container(sts: dict, name: str) -> dict:
    return next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def test_all_children_are_owned_and_labelled() -> None:
    objs = children.desired(OWNER_REF, parse_spec(minimal_spec()), SETTINGS)
    assert [o["kind"] for o in objs] == [
        "ConfigMap",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "StatefulSet",
    ]
    for obj in objs:
        ref = obj["metadata"]["ownerReferences"][0]
        assert ref["uid"] == "uid-1" and ref["controller"] is True and ref["kind"] == "CocoonNode"
        assert obj["metadata"]["labels"]["cocoon.tonops.dev/node"] == "w1"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cocoon-operator"


def test_statefulset_shape() -> None:
    sts = _sts(inference={"resources": {"requests": {"cpu": "8", "memory": "64Gi"}}})
    assert sts["spec"]["replicas"] == 1
    pod = sts["spec"]["template"]["spec"]
    triton = _container(sts, "triton")
    assert (
        triton["resources"]["requests"]["nvidia.com/gpu"]
        == triton["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert triton["resources"]["requests"]["cpu"] == "8"
    assert {p["containerPort"] for p in triton["ports"]} == {8000, 8001, 8002}
    for flag in (
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--exit-timeout-secs=30",
    ):
        assert flag in triton["args"]
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    startup = triton["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    # grace period covers preStop sleep + Triton's drain
    assert pod["terminationGracePeriodSeconds"] > 10 + 30
    assert triton["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    model_mount = next(m for m in triton["volumeMounts"] if m["name"] == "model")
    assert model_mount["readOnly"] is True
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_wallet_key_only_as_file_never_env() -> None:
    sts = _sts()
    pod = sts["spec"]["template"]["spec"]
    text = json.dumps(pod)
    assert "secretKeyRef" not in text and "envFrom" not in text
    wallet = next(v for v in pod["volumes"] if v["name"] == "wallet")
    assert wallet["secret"]["secretName"] == "w1-wallet"
    runner = _container(sts, "runner")
    assert "env" not in runner


def test_the_wallet_key_reaches_only_admin_chosen_images() -> None:
    """Issue 16: the key file is mounted only by `render-config`, whose image is the admin's setting;
    every container whose image a CocoonNode author picks (spec.worker.image, spec.inference.image) sees
    the key only through the rendered config (the runner, whose image the admission policy checks), or
    not at all."""
    settings = Settings(render_image="registry.admin.example/cocoon-operator:1.2.3")
    spec = parse_spec(
        minimal_spec(
            worker={"image": "evil.example/steal:latest"},
            inference={
                "image": "evil.example/triton:latest",
                "modelSource": {"url": "https://example.invalid/m.tar"},
                "modelSha256": "a" * 64,
            },
        )
    )
    cm = children.configmap(OWNER_REF, spec, settings)
    sts = children.statefulset(OWNER_REF, spec, settings, children.config_hash(cm))
    pod = sts["spec"]["template"]["spec"]
    containers = pod["initContainers"] + pod["containers"]

    def mounting(volume: str) -> dict[str, str]:
        return {
            c["name"]: c["image"]
            for c in containers
            if any(m["name"] == volume for m in c.get("volumeMounts", []))
        }

    assert mounting(children.WALLET_VOLUME) == {
        children.RENDER_CONTAINER: "registry.admin.example/cocoon-operator:1.2.3"
    }
    # the rendered config (key inside): written by render-config, read by the runner only
    assert mounting("runner-config") == {
        children.RENDER_CONTAINER: "registry.admin.example/cocoon-operator:1.2.3",
        "runner": "evil.example/steal:latest",
    }
    for c in containers:
        if c["image"].startswith("evil.example/triton"):
            assert {m["name"] for m in c["volumeMounts"]} <= {"model", "tmp", "dshm"}, c["name"]
        assert "env" not in c or all("valueFrom" not in e for e in c["env"]), c["name"]
    assert "shareProcessNamespace" not in pod and pod["automountServiceAccountToken"] is False


def test_render_image_default_is_the_operators_own() -> None:
    from cocoon_operator import __version__

    init = _sts()["spec"]["template"]["spec"]["initContainers"]
    (render,) = [c for c in init if c["name"] == children.RENDER_CONTAINER]
    assert render["image"] == f"cocoon-operator:{__version__}"
    assert _sts(worker={"image": "x.example/other:2"})["spec"]["template"]["spec"]["initContainers"] == init


def test_paused_scales_to_zero_and_model_change_rolls() -> None:
    assert _sts(paused=True)["spec"]["replicas"] == 0
    other_model = MODEL.replace("Qwen3-8B", "Qwen3-14B")
    a, b = _sts(), _sts(model=other_model)
    assert a["spec"]["template"] != b["spec"]["template"]  # template change → rolling update
    assert _sts()["spec"]["template"] == a["spec"]["template"]  # deterministic


def test_placement_extras_in_pod_spec() -> None:
    sts = _sts(
        placement={
            "nodeSelector": {"pool": "cocoon"},
            "runtimeClassName": "kata-qemu-nvidia-gpu-tdx",
            "gpuCount": 2,
        }
    )
    pod = sts["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "cocoon"}
    assert pod["runtimeClassName"] == "kata-qemu-nvidia-gpu-tdx"
    assert _container(sts, "triton")["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_url_model_source_gets_verifying_init_container() -> None:
    sts = _sts(inference={"modelSource": {"url": "https://example.invalid/m.tar"}, "modelSha256": "a" * 64})
    init = {c["name"]: c for c in sts["spec"]["template"]["spec"]["initContainers"]}
    assert "sha256sum /tmp/model.tar" in init["fetch-model"]["command"][-1]
    assert {"name": "MODEL_SHA256", "value": "a" * 64} in init["fetch-model"]["env"]


def test_runner_config_fields() -> None:
    spec = parse_spec(minimal_spec(workerCoefficient=1500, imageHash="ab" * 32))
    config = runner_config.runner_config(spec, SETTINGS)
    assert config["model_name"] == MODEL
    assert config["owner_address"] == OWNER
    assert config["root_contract_address"] == ROOT_ADDRESS
    assert config["http_port"] == 12000
    assert config["coefficient"] == 1500
    assert config["forward_requests_to"].startswith("127.0.0.1:")
    assert config["node_wallet_key"] == "$NODE_WALLET_KEY"
    assert config["ton_config_filename"] == "/etc/cocoon/ton/global.config.json"
    assert base64.b64decode(config["image_hash"]) == bytes.fromhex("ab" * 32)
    assert config["is_test"] is False


def test_render_script_substitutes_key_from_file(tmp_path: Path) -> None:
    spec = parse_spec(minimal_spec())
    key = base64.b64encode(bytes(range(32))).decode()  # contains '/' and '+'
    template_dir, wallet_dir, config_dir = tmp_path / "t", tmp_path / "w", tmp_path / "c"
    for d in (template_dir, wallet_dir, config_dir):
        d.mkdir()
    (template_dir / runner_config.TEMPLATE_FILE).write_text(runner_config.render(spec, SETTINGS))
    (wallet_dir / "node_wallet_key").write_text(key + "\n")
    script = (
        runner_config.RENDER_SCRIPT.replace(runner_config.TEMPLATE_DIR, str(template_dir))
        .replace(runner_config.WALLET_DIR, str(wallet_dir))
        .replace(runner_config.CONFIG_DIR, str(config_dir))
    )
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    rendered = json.loads((config_dir / runner_config.CONFIG_FILE).read_text())
    assert rendered["node_wallet_key"] == key
    assert rendered["model_name"] == MODEL


def test_wallet_secret_generation_and_validation() -> None:
    secret = children.new_wallet_secret(OWNER_REF, "w1-wallet")
    assert "ownerReferences" not in secret["metadata"]  # the key must outlive the CocoonNode
    assert children.wallet_key_problem(secret) is None
    other = children.new_wallet_secret(OWNER_REF, "w1-wallet")
    assert other["data"] != secret["data"]  # random
    bad = {"metadata": {"name": "s"}, "data": {"node_wallet_key": base64.b64encode(b"c2hvcnQ=").decode()}}
    problem = children.wallet_key_problem(bad)
    assert problem is not None and "32 bytes" in problem
    assert children.wallet_key_problem({"metadata": {"name": "s"}, "data": {}}) is not None


def test_network_policy_only_operator_reaches_runner() -> None:
    ports = children.ports(parse_spec(minimal_spec()), SETTINGS)
    policy = children.network_policy(OWNER_REF, SETTINGS, ports)
    (rule,) = policy["spec"]["ingress"]
    assert {"port": 12000, "protocol": "TCP"} in rule["ports"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "cocoon-system"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "cocoon-operator"}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
