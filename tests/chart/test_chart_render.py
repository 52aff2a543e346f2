"""Rendering tests: `helm lint` and `helm template` of the chart for the main values combinations,
parsed and checked (RBAC least privilege, the Deployment's shape and security context, CRD copy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import CHART, REPO, helm_bin, is_hook, of_kind, one, render, run, template

CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
WATCH_NS = "cocoon-workers"
SCENARIOS: dict[str, dict[str, str]] = {
    "default": {},
    "single-namespace": {"watchNamespace": WATCH_NS},
    "all-namespaces": {"allNamespaces": "true"},
    "crds-off": {"crds.install": "false"},
    "servicemonitor": {"serviceMonitor.enabled": "true"},
    "networkpolicy": {"networkPolicy.enabled": "true", "podDisruptionBudget.enabled": "true"},
}
RBAC_KINDS = ("ClusterRole", "Role")
# Verbs that let an identity widen its own rights; never for the operator.
ESCALATING_VERBS = {"escalate", "bind", "impersonate", "*"}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(SCENARIOS[request.param])


def _rules(objs: list[dict[str, Any]], *, hooks: bool = False) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (o, r) for o in objs if o["kind"] in RBAC_KINDS and is_hook(o) == hooks for r in o.get("rules", [])
    ]


def _operator_rules(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rules of the roles bound to the operator's ServiceAccount (not the users' aggregate roles)."""
    sa = one(objs, "ServiceAccount", "cocoon-operator")["metadata"]["name"]
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in objs
        if b["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and any(s["kind"] == "ServiceAccount" and s["name"] == sa for s in b["subjects"])
    }
    return [r for o in objs if (o["kind"], o["metadata"]["name"]) in bound for r in o.get("rules", [])]


def _grants(objs: list[dict[str, Any]], group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in _operator_rules(objs):
        if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
            verbs |= set(rule["verbs"])
    return verbs


# ------------------------------------------------------------------ lint


def test_helm_lint_default() -> None:
    run([helm_bin(), "lint", "--strict", str(CHART)], timeout=60)


@pytest.mark.parametrize("values_file", CI_VALUES, ids=[p.name for p in CI_VALUES])
def test_helm_lint_ci_values(values_file: Path) -> None:
    run([helm_bin(), "lint", "--strict", str(CHART), "-f", str(values_file)], timeout=60)
    # and it renders
    assert template(values_files=[values_file]).stdout.strip()


def test_ci_values_cover_the_main_modes() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "single-namespace-values.yaml",
        "crds-off-values.yaml",
        "servicemonitor-values.yaml",
        "networkpolicy-values.yaml",
    } <= names


# ------------------------------------------------------------------ values schema


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"imagee.tag": "x"}, "additional properties 'imagee' not allowed"),
        ({"image.tagg": "x"}, "additional properties 'tagg' not allowed"),
        ({"crds.install": "yes"}, "/crds/install"),
        ({"runAsUser": "0"}, "/runAsUser"),
        ({"watchNamespace": "Not_A_Namespace"}, "/watchNamespace"),
        ({"watchNamespaces[0]": "Not_A_Namespace"}, "/watchNamespaces/0"),
        ({"imagePolicy.worker.repositoryPrefixes[0]": "registry.example/cocoon"}, "/imagePolicy/worker"),
        ({"imagePolicy.inference.digests[0]": "sha256:xyz"}, "/imagePolicy/inference/digests/0"),
        ({"admissionPolicies.walletSecretMarks": "maybe"}, "/admissionPolicies/walletSecretMarks"),
        ({"liveness.port": "70000"}, "/liveness/port"),
        ({"extraArgs": "--verbose"}, "/extraArgs"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, str], message: str) -> None:
    proc = template(values, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_schema_closes_every_object() -> None:
    """additionalProperties: false on every object the chart defines; maps are typed; only Kubernetes
    objects passed through verbatim (validated by the API server) stay open, and say so."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_nodes: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object":
            extra = node.get("additionalProperties")
            passthrough = "validated by the API server" in node.get("description", "") or path.endswith(
                "/global"
            )
            if extra is not False and not isinstance(extra, dict) and not passthrough:
                open_nodes.append(path)
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}/{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}/*")

    walk(schema, "")
    assert schema["additionalProperties"] is False
    assert not open_nodes, f"schema objects without additionalProperties: false: {open_nodes}"


# Values whose default is a non-empty map (documented as one value, not as a section)
MAP_VALUES = {"resources", "cleanup.resources", "dashboard.labels"}


def _leaf_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        # a non-empty dict of our own keys is a section; an empty dict/list is a leaf value
        if isinstance(value, dict) and value and path not in MAP_VALUES:
            out += _leaf_paths(value, path + ".")
        else:
            out.append(path)
    return out


def test_every_value_is_typed_and_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    readme = (CHART / "README.md").read_text()
    for path in _leaf_paths(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"values.schema.json lacks {path}"
            node = node["properties"][part]
        assert f"`{path}`" in readme, f"chart README.md does not document `{path}`"


# ------------------------------------------------------------------ RBAC


def test_rbac_has_no_wildcards_or_versioned_groups(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = scenario
    for obj, rule in _rules(objs) + _rules(objs, hooks=True):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for field in ("verbs", "resources", "apiGroups"):
            assert "*" not in rule.get(field, []), f"{where}: '*' in {field}"
        assert not ESCALATING_VERBS & set(rule["verbs"]), where
        assert all("/" not in g for g in rule.get("apiGroups", [])), f"{where}: API groups carry no version"
        assert "nonResourceURLs" not in rule, where
    for rule in _operator_rules(objs):
        assert "deletecollection" not in rule["verbs"]
        assert not {"rbac.authorization.k8s.io", "admissionregistration.k8s.io"} & set(rule["apiGroups"])
        assert not {"pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token"} & set(
            rule["resources"]
        )


def test_secrets_cluster_wide_only_with_the_explicit_value(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    """Issue 16: the default install reads and creates Secrets only in the namespaces it serves."""
    name, objs = scenario
    cluster_wide = [
        o["metadata"]["name"]
        for o in of_kind(objs, "ClusterRole")
        if any("secrets" in r.get("resources", []) for r in o.get("rules", []))
    ]
    assert cluster_wide == (
        ["cocoon-cocoon-operator-cocoon-system-workloads"] if name == "all-namespaces" else []
    )


def test_rbac_secrets_only_get_and_create(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = scenario
    assert _grants(objs, "", "secrets") <= {"get", "create"}
    for obj, rule in _rules(objs):
        if "secrets" in rule.get("resources", []) and obj["kind"] == "ClusterRole":
            assert obj["metadata"]["name"].endswith("-workloads"), (
                "Secrets cluster-wide only for all-namespace mode"
            )


def test_rbac_matches_what_the_operator_calls(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    """Exactly the verbs of docs/rbac-needs.md (the operator's own list of API calls), no more."""
    _, objs = scenario
    group = "cocoon.tonops.dev"
    expected = {
        (group, "cocoonnodes"): {"get", "list", "watch", "patch"},
        (group, "cocoonnodes/status"): {"get", "patch"},
        (group, "cocoonnodes/finalizers"): {"update"},
        ("", "events"): {"create"},
        ("apps", "statefulsets"): {"get", "list", "watch", "create", "patch"},
        ("", "configmaps"): {"get", "list", "watch", "create", "patch"},
        ("", "services"): {"get", "list", "watch", "create", "patch"},
        ("policy", "poddisruptionbudgets"): {"get", "list", "watch", "create", "patch"},
        ("networking.k8s.io", "networkpolicies"): {"get", "list", "watch", "create", "patch"},
        ("", "pods"): {"get", "list", "watch", "delete"},
        ("", "secrets"): {"get", "create"},
        ("", "nodes"): {"get", "list", "watch"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
        ("coordination.k8s.io", "leases"): {"get", "create", "patch"},
        # not an API resource: what the wallet-Secret admission policy asks before a mark is written
        (group, "walletsecrets"): {"adopt"},
    }
    for (api_group, resource), verbs in expected.items():
        assert _grants(objs, api_group, resource) == verbs, f"{api_group}/{resource}"
    granted = {(g, r) for rule in _operator_rules(objs) for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted - set(expected) <= {("", "namespaces")}, granted - set(expected)


def _rbac_needs() -> dict[str, dict[tuple[str, str], set[str]]]:
    """The tables of docs/rbac-needs.md (the operator's own list of API calls), by section."""
    sections: dict[str, dict[tuple[str, str], set[str]]] = {}
    current = ""
    for line in (REPO / "docs" / "rbac-needs.md").read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].split()[0].lower()  # "namespaced" / "cluster-scoped"
            sections[current] = {}
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current and len(cells) >= 3 and cells[0].startswith("`"):
            group = cells[0].strip("`").replace('""', "")
            verbs = {v.strip() for v in cells[2].split(",")}
            for resource in cells[1].split("/ "):
                name = resource.split("(")[0].strip().strip("`").strip()
                sections[current][(group, name)] = verbs
    return sections


@pytest.mark.skipif(
    not (REPO / "docs" / "rbac-needs.md").exists(), reason="docs/rbac-needs.md not written yet"
)
def test_rbac_follows_the_operators_list_of_calls() -> None:
    """Every namespaced call in docs/rbac-needs.md is granted with exactly those verbs, in both modes;
    the cluster-scoped ones too, except the rows the doc itself marks as conditional."""
    needs = _rbac_needs()
    for objs in (render(), render({"watchNamespace": WATCH_NS}), render({"allNamespaces": "true"})):
        for (group, resource), verbs in needs["namespaced"].items():
            assert _grants(objs, group, resource) == verbs, f"{group}/{resource}: doc says {sorted(verbs)}"
        for key in (("", "nodes"), ("apiextensions.k8s.io", "customresourcedefinitions")):
            assert _grants(objs, *key) == needs["cluster-scoped"][key], key
    # kopf peering is not used (--standalone): no rules for it
    assert not _grants(render(), "kopf.dev", "kopfpeerings")


def test_rbac_cluster_wide_mode() -> None:
    objs = render({"allNamespaces": "true"})
    cluster_roles = {o["metadata"]["name"]: o for o in of_kind(objs, "ClusterRole") if not is_hook(o)}
    assert set(cluster_roles) == {
        "cocoon-cocoon-operator-cocoon-system",
        "cocoon-cocoon-operator-cocoon-system-workloads",
        "cocoon-cocoon-operator-cocoon-system-view",
        "cocoon-cocoon-operator-cocoon-system-edit",
        "cocoon-cocoon-operator-cocoon-system-trust-admin",
    }
    # the only Role is the Lease's, in the release namespace
    roles = [o for o in of_kind(objs, "Role") if not is_hook(o)]
    assert [(r["metadata"]["name"], r["metadata"]["namespace"]) for r in roles] == [
        ("cocoon-cocoon-operator-leader", "cocoon-system")
    ]
    bindings = of_kind(objs, "ClusterRoleBinding")
    for b in bindings:
        if is_hook(b):
            continue
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": "cocoon-cocoon-operator", "namespace": "cocoon-system"}
        ]


def test_default_serves_the_release_namespace_only() -> None:
    objs = render()
    (role,) = [
        o for o in of_kind(objs, "Role") if not is_hook(o) and not o["metadata"]["name"].endswith("-leader")
    ]
    assert role["metadata"]["namespace"] == "cocoon-system"
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=cocoon-system" in args and "--all-namespaces" not in args
    assert not [o for o in of_kind(objs, "ClusterRole") if o["metadata"]["name"].endswith("-workloads")]


def test_several_watched_namespaces() -> None:
    objs = render({"watchNamespaces": "{a,b}", "watchNamespace": "b"})

    def served(kind: str) -> list[str]:
        found = of_kind(objs, kind)
        return sorted(
            o["metadata"]["namespace"]
            for o in found
            if not is_hook(o) and "-leader" not in o["metadata"]["name"]
        )

    assert served("Role") == ["a", "b"] and served("RoleBinding") == ["a", "b"]
    args = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=a", "--namespace=b"]
    proc = template({"allNamespaces": "true", "watchNamespaces": "{a}"}, check=False)
    assert proc.returncode != 0 and "allNamespaces serves every namespace" in proc.stderr


def test_rbac_single_namespace_mode() -> None:
    objs = render({"watchNamespace": WATCH_NS})
    base = one(objs, "ClusterRole", "cocoon-system")
    # cluster-wide: only what cannot be namespaced
    resources = {r for rule in base["rules"] for r in rule["resources"]}
    assert resources == {"nodes", "customresourcedefinitions", "namespaces"}
    assert _grants(objs, "", "namespaces") == {"list", "watch"}
    assert not [o for o in of_kind(objs, "ClusterRole") if o["metadata"]["name"].endswith("-workloads")]
    role = one(objs, "Role", "cocoon-operator")
    assert role["metadata"]["namespace"] == WATCH_NS
    role_resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"cocoonnodes", "statefulsets", "secrets", "pods", "events"} <= role_resources
    binding = one(objs, "RoleBinding", "cocoon-operator")
    assert binding["metadata"]["namespace"] == WATCH_NS
    assert binding["subjects"][0]["namespace"] == "cocoon-system"
    deploy = one(objs, "Deployment")
    assert f"--namespace={WATCH_NS}" in deploy["spec"]["template"]["spec"]["containers"][0]["args"]


def test_aggregate_roles_for_users() -> None:
    objs = render()
    view = one(objs, "ClusterRole", "-view")
    edit = one(objs, "ClusterRole", "-edit")
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert {v for r in view["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    assert all("cocoonnodes/status" not in r["resources"] for r in edit["rules"]), "users never write status"
    assert not of_kind(render({"rbac.aggregateToDefaultRoles": "false"}), "ClusterRole")[0]["metadata"][
        "name"
    ].endswith("-view")


def test_rbac_create_false_renders_no_rbac() -> None:
    objs = render({"rbac.create": "false", "cleanup.enabled": "false", "helmTest.enabled": "false"})
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")]


# ------------------------------------------------------------------ Deployment


def test_deployment_shape(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    name, objs = scenario
    deploy = one(objs, "Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 2  # a leader and a standby (leader election)
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == one(objs, "ServiceAccount", "cocoon-operator")["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["image"] == "cocoon-operator:0.1.0"
    args = container["args"]
    assert args[0] == "run"
    if name == "single-namespace":
        assert f"--namespace={WATCH_NS}" in args and "--all-namespaces" not in args
    elif name == "all-namespaces":
        assert "--all-namespaces" in args
    else:
        assert "--namespace=cocoon-system" in args
    assert "--liveness=http://0.0.0.0:8080/healthz" in args
    assert "--standalone" in args  # one replica: kopf must not look for peering objects
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9090}
    probe = container["livenessProbe"]["httpGet"]
    assert probe == {"path": "/healthz", "port": "healthz"}
    assert "readinessProbe" not in container
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]


def test_deployment_args_parse_with_the_operator_cli() -> None:
    """The chart's arguments are accepted by the real `cocoon-operator` argument parser."""
    from cocoon_operator.__main__ import _parser

    cases: list[tuple[dict[str, str], list[str]]] = [
        ({}, ["cocoon-system"]),
        ({"watchNamespace": WATCH_NS}, [WATCH_NS]),
        ({"watchNamespaces": "{a,b}"}, ["a", "b"]),
        ({"allNamespaces": "true"}, []),
        ({"extraArgs[0]": "--verbose"}, ["cocoon-system"]),
    ]
    for values, namespaces in cases:
        (container,) = one(render(values), "Deployment")["spec"]["template"]["spec"]["containers"]
        parsed = _parser().parse_args(container["args"])
        assert parsed.command == "run"
        assert parsed.standalone is True
        assert parsed.liveness == "http://0.0.0.0:8080/healthz"
        assert parsed.namespace == namespaces
        assert parsed.all_namespaces is (namespaces == [])


def _assert_restricted(pod: dict[str, Any]) -> None:
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert isinstance(psc["runAsUser"], int) and psc["runAsUser"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in pod["containers"]:
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "privileged" not in sc or sc["privileged"] is False


def test_pods_are_restricted(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = scenario
    _assert_restricted(one(objs, "Deployment")["spec"]["template"]["spec"])
    for job in of_kind(objs, "Job"):
        _assert_restricted(job["spec"]["template"]["spec"])


def test_image_digest_wins_over_tag() -> None:
    digest = "sha256:" + "a" * 64
    deploy = one(
        render({"image.digest": digest, "image.repository": "registry.example/cocoon"}), "Deployment"
    )
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == f"registry.example/cocoon@{digest}"


# ------------------------------------------------------- Service, ServiceMonitor, NetworkPolicy, PDB


def test_metrics_service() -> None:
    objs = render()
    svc = one(objs, "Service", "-metrics")
    assert svc["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert not of_kind(objs, "ServiceMonitor") and not of_kind(
        render({"networkPolicy.enabled": "false"}), "NetworkPolicy"
    )
    assert one(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1  # a drain keeps the standby


def test_service_monitor_selects_the_metrics_service() -> None:
    objs = render({"serviceMonitor.enabled": "true", "serviceMonitor.labels.release": "prom"})
    sm = one(objs, "ServiceMonitor")
    svc = one(objs, "Service", "-metrics")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    # the per-node series' own `namespace` label wins over the target's (no `exported_namespace`)
    assert sm["spec"]["endpoints"][0]["honorLabels"] is True
    assert sm["metadata"]["labels"]["release"] == "prom"
    proc = template({"serviceMonitor.enabled": "true", "metrics.service.enabled": "false"}, check=False)
    assert proc.returncode != 0 and "serviceMonitor.enabled needs metrics.service.enabled" in proc.stderr


def test_network_policy() -> None:
    objs = render()  # on by default (issue 16)
    np = one(objs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress"]
    assert np["spec"]["podSelector"]["matchLabels"].items() <= (
        one(objs, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    ports = [p["port"] for rule in np["spec"]["ingress"] for p in rule["ports"]]
    assert ports == ["metrics", "healthz"]
    objs = render(values_files=[CHART / "ci" / "networkpolicy-values.yaml"])
    np = one(objs, "NetworkPolicy")
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    egress_ports = [p.get("port") for rule in np["spec"]["egress"] for p in rule.get("ports", [])]
    assert 53 in egress_ports and 6443 in egress_ports
    workers = [r for r in np["spec"]["egress"] if any("podSelector" in t for t in r.get("to", []))]
    assert workers[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "cocoon-worker"
    proc = template({"networkPolicy.enabled": "true", "networkPolicy.egress.enabled": "true"}, check=False)
    assert proc.returncode != 0 and "apiServerCIDRs" in proc.stderr


def test_pod_disruption_budget_never_blocks_drains() -> None:
    pdb = one(render({"podDisruptionBudget.enabled": "true"}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]


# ------------------------------------------------------------------ CRDs


def _canonical_crds() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((REPO / "crds").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        out[doc["metadata"]["name"]] = doc
    return out


def test_chart_crd_copy_is_in_sync() -> None:
    copies = sorted((CHART / "files" / "crds").glob("*.yaml"))
    assert [p.name for p in copies] == [p.name for p in sorted((REPO / "crds").glob("*.yaml"))]
    for copy in copies:
        assert copy.read_bytes() == (REPO / "crds" / copy.name).read_bytes(), (
            f"charts/cocoon-operator/files/crds/{copy.name} differs from crds/: run hack/sync-crds.sh"
        )
    assert not any(p.is_symlink() for p in copies)
    run(["bash", str(REPO / "hack" / "sync-crds.sh"), "--check"])


def test_rendered_crds_equal_the_canonical_ones() -> None:
    rendered = {c["metadata"]["name"]: c for c in of_kind(render(), "CustomResourceDefinition")}
    canonical = _canonical_crds()
    assert set(rendered) == set(canonical) and canonical
    for name, crd in canonical.items():
        assert rendered[name]["spec"] == crd["spec"]
        assert rendered[name]["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert rendered[name]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_crd_keep_and_install_switches() -> None:
    crd = of_kind(render({"crds.keep": "false"}), "CustomResourceDefinition")[0]
    assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})
    assert not of_kind(render({"crds.install": "false"}), "CustomResourceDefinition")


# ------------------------------------------------------------------ pre-delete cleanup hook


def _cleanup_hooks(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pre-delete hooks (the `helm test` hook is tests/chart/test_helm_test_hook.py's)."""
    return [o for o in objs if is_hook(o) and o["metadata"]["annotations"]["helm.sh/hook"] != "test"]


def test_cleanup_hook() -> None:
    objs = render({"allNamespaces": "true"})
    hooks = _cleanup_hooks(objs)
    assert {o["kind"] for o in hooks} == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job"}
    for o in hooks:
        assert o["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    job = one(hooks, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [(CHART / "files" / "cleanup.py").read_text()]
    assert (
        job["spec"]["template"]["spec"]["serviceAccountName"]
        == one(hooks, "ServiceAccount")["metadata"]["name"]
    )
    (rule,) = one(hooks, "ClusterRole")["rules"]
    assert rule == {
        "apiGroups": ["cocoon.tonops.dev"],
        "resources": ["cocoonnodes"],
        "verbs": ["list", "delete"],
    }
    # weights: RBAC before the Job
    weights = {o["kind"]: int(o["metadata"]["annotations"]["helm.sh/hook-weight"]) for o in hooks}
    assert weights["Job"] > weights["ClusterRoleBinding"] > weights["ClusterRole"] - 1


def test_cleanup_hook_single_namespace() -> None:
    hooks = _cleanup_hooks(render({"watchNamespace": WATCH_NS}))
    assert {o["kind"] for o in hooks} == {"ServiceAccount", "Role", "RoleBinding", "Job"}
    assert one(hooks, "Role")["metadata"]["namespace"] == WATCH_NS
    env = {
        e["name"]: e["value"] for e in one(hooks, "Job")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["COCOON_CLEANUP_NAMESPACE"] == WATCH_NS
    assert not _cleanup_hooks(render({"cleanup.enabled": "false"}))


# ------------------------------------------------------------------ general hygiene


def test_every_object_is_labelled_and_namespaced(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, objs = scenario
    cluster_scoped = {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for o in objs:
        labels = o["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == "cocoon", o["metadata"]["name"]
        assert labels.get("app.kubernetes.io/managed-by") == "Helm"
        if o["kind"] in cluster_scoped:
            assert "namespace" not in o["metadata"]
        else:
            assert o["metadata"].get("namespace") in ("cocoon-system", WATCH_NS), o["metadata"]["name"]


def test_packaged_chart_renders_the_same(tmp_path: Path) -> None:
    """`helm package` keeps files/ (CRD copy, hook script): the package renders what the folder does."""
    run([helm_bin(), "package", str(CHART), "--destination", str(tmp_path)], timeout=60)
    (tgz,) = tmp_path.glob("cocoon-operator-*.tgz")
    packaged = run(
        [helm_bin(), "template", "cocoon", str(tgz), "-n", "cocoon-system", "--kube-version", "1.35.4"]
    )
    assert packaged.stdout == template().stdout


def test_renders_on_the_oldest_supported_kubernetes() -> None:
    """1.30: ValidatingAdmissionPolicy v1 (the admission policies) is GA there."""
    proc = run([helm_bin(), "template", "x", str(CHART), "--kube-version", "1.30.0"], timeout=60)
    assert "kind: Deployment" in proc.stdout and "kind: ValidatingAdmissionPolicy" in proc.stdout
    proc = run([helm_bin(), "template", "x", str(CHART), "--kube-version", "1.29.9"], check=False, timeout=60)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr


# ------------------------------------------------------------------ issue 16: admission policies


def test_admission_policies_and_their_bindings() -> None:
    objs = render({"watchNamespaces": "{a,b}"})
    policies = {o["metadata"]["name"]: o for o in of_kind(objs, "ValidatingAdmissionPolicy")}
    bindings = {o["metadata"]["name"]: o for o in of_kind(objs, "ValidatingAdmissionPolicyBinding")}
    prefix = "cocoon-cocoon-operator-cocoon-system-"
    shorts = ("images", "trusted-code", "wallet-secrets", "treasury-secrets", "operator-secrets")
    names = {prefix + n for n in shorts}
    assert set(policies) == set(bindings) == names
    for name, binding in bindings.items():
        assert binding["spec"]["policyName"] == name
        assert binding["spec"]["validationActions"] == ["Deny"]
        assert policies[name]["spec"]["failurePolicy"] == "Fail"
    for short in shorts[:-1]:  # only where this operator serves
        selector = bindings[prefix + short]["spec"]["matchResources"]["namespaceSelector"]
        assert selector["matchExpressions"] == [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}
        ]
    assert "matchResources" not in bindings[prefix + "operator-secrets"]["spec"]
    (cond,) = policies[prefix + "operator-secrets"]["spec"]["matchConditions"]
    assert (
        cond["expression"]
        == "request.userInfo.username == 'system:serviceaccount:cocoon-system:cocoon-cocoon-operator'"
    )
    everywhere = render({"allNamespaces": "true"})
    assert all(
        "matchResources" not in b["spec"] for b in of_kind(everywhere, "ValidatingAdmissionPolicyBinding")
    )
    off = render(
        {
            "imagePolicy.enabled": "false",
            "admissionPolicies.walletSecretMarks": "false",
            "admissionPolicies.trustedCode": "false",
            "admissionPolicies.operatorSecrets": "false",
            "admissionPolicies.treasurySecrets": "false",
        }
    )
    assert not of_kind(off, "ValidatingAdmissionPolicy") and not of_kind(
        off, "ValidatingAdmissionPolicyBinding"
    )


def test_image_policy_values_reach_the_policy_and_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = "sha256:" + "b" * 64
    objs = render(
        {
            "imagePolicy.worker.repositoryPrefixes": "{registry.example/cocoon/worker-runner@}",
            "imagePolicy.worker.digests": "{" + digest + "}",
        }
    )
    policy = one(objs, "ValidatingAdmissionPolicy", "-images")
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert json.loads(variables["workerPrefixes"]) == ["registry.example/cocoon/worker-runner@"]
    assert json.loads(variables["workerDigests"]) == [digest]
    assert json.loads(variables["inferencePrefixes"]) == ["nvcr.io/nvidia/tritonserver:"]
    (container,) = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["COCOON_IMAGE_POLICY"] == "true"
    assert json.loads(env["COCOON_WORKER_IMAGE_PREFIXES"]) == ["registry.example/cocoon/worker-runner@"]
    assert json.loads(env["COCOON_WORKER_IMAGE_DIGESTS"]) == [digest]
    # the operator reads them from its environment into its settings unchanged
    from cocoon_operator.settings import Settings

    for key, value in env.items():
        if key.startswith("COCOON_") and value is not None:
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.image_policy is True and settings.worker_image_digests == (digest,)
    assert settings.worker_image_prefixes == ("registry.example/cocoon/worker-runner@",)
    off = one(render({"imagePolicy.enabled": "false"}), "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert "COCOON_IMAGE_POLICY" not in {e["name"] for e in off["env"]}


def test_render_image_is_the_admins() -> None:
    def render_image(values: dict[str, str]) -> str:
        (container,) = one(render(values), "Deployment")["spec"]["template"]["spec"]["containers"]
        return str(next(e["value"] for e in container["env"] if e["name"] == "COCOON_RENDER_IMAGE"))

    assert render_image({}) == "cocoon-operator:0.1.0"  # the operator's own image
    digest = "sha256:" + "c" * 64
    assert (
        render_image({"image.repository": "r.example/op", "image.digest": digest}) == f"r.example/op@{digest}"
    )
    assert render_image({"renderImage": "r.example/shell@" + digest}) == "r.example/shell@" + digest


def test_trust_admin_role_is_bound_to_nobody() -> None:
    objs = render()
    role = one(objs, "ClusterRole", "-trust-admin")
    assert {(r["resources"][0], r["verbs"][0]) for r in role["rules"]} == {
        ("walletsecrets", "adopt"),
        ("contractcodes", "trust"),
        ("treasuries", "manage"),
    }
    assert not [k for k in role["metadata"]["labels"] if k.startswith("rbac.authorization.k8s.io/aggregate")]
    bound = {b["roleRef"]["name"] for b in objs if b["kind"] in ("ClusterRoleBinding", "RoleBinding")}
    assert role["metadata"]["name"] not in bound
