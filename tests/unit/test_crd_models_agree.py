"""The CRD (source of truth) and the pydantic models describe the same API.

Fixtures are validated against both the CRD's openAPI schema (jsonschema) and the models; the
property names, required fields and defaults are compared field by field.
"""

import types
import typing
from typing import Any, Union

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from cocoon_operator.api.observed import CocoonNodeStatus
from cocoon_operator.api.spec import CocoonNodeSpec, parse_spec
from tests.unit.builders import load_crd, load_examples, minimal_spec


def _version_schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _json_schema(node: Any) -> Any:
    """openAPI v3 (structural) → JSON Schema: drop Kubernetes extensions, keep the rest."""
    if isinstance(node, dict):
        return {k: _json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    return node


def _validator(crd: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_json_schema(_version_schema(crd)))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside Optional[...], tuple[...], Annotated[...], or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, tuple, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    return {(f.alias or name): name for name, f in model.model_fields.items()}


def _compare(schema: dict[str, Any], model: type[BaseModel], path: str, problems: list[str]) -> None:
    props = schema.get("properties", {})
    if schema.get("type") == "array":
        props = schema["items"].get("properties", {})
        schema = schema["items"]
    aliases = _aliases(model)
    for missing in sorted(set(props) - set(aliases)):
        problems.append(f"{path}.{missing}: in the CRD, not in {model.__name__}")
    for extra in sorted(set(aliases) - set(props)):
        problems.append(f"{path}.{extra}: in {model.__name__}, not in the CRD")
    for prop, sub in props.items():
        if prop not in aliases:
            continue
        field = model.model_fields[aliases[prop]]
        required = prop in schema.get("required", [])
        if required != field.is_required():
            problems.append(f"{path}.{prop}: required in CRD={required}, in model={field.is_required()}")
        if "default" in sub and sub["default"] != {}:
            dumped = model.model_construct().model_dump(by_alias=True, mode="json", include={aliases[prop]})
            if dumped.get(prop) != sub["default"]:
                problems.append(
                    f"{path}.{prop}: default {sub['default']!r} in CRD, {dumped.get(prop)!r} in model"
                )
        nested = _model_of(field.annotation)
        if nested is not None and nested.__name__ not in ("ModelRef",):
            _compare(sub, nested, f"{path}.{prop}", problems)


def test_spec_fields_names_required_and_defaults_agree() -> None:
    problems: list[str] = []
    _compare(_version_schema(load_crd())["properties"]["spec"], CocoonNodeSpec, "spec", problems)
    assert problems == []


def test_status_fields_agree() -> None:
    problems: list[str] = []
    _compare(_version_schema(load_crd())["properties"]["status"], CocoonNodeStatus, "status", problems)
    assert problems == []


def test_examples_are_valid_for_both() -> None:
    validator = _validator(load_crd())
    nodes = [d for d in load_examples() if d["kind"] == "CocoonNode"]
    assert len(nodes) >= 3
    for doc in nodes:
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], doc["metadata"]["name"]
        parse_spec(doc["spec"])


def test_full_status_is_valid_for_both() -> None:
    status = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Reconciled",
                "message": "ok",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 3,
            }
        ],
        "nodeName": "n",
        "podName": "p",
        "podIP": "127.100.0.1",
        "modelName": "Qwen/Qwen3-8B",
        "walletAddress": "EQ...",
        "workerContracts": [{"proxyAddress": "a", "address": "b", "paramsVersion": 1, "state": "Active"}],
        "earnings": {
            "claimableNano": "123",
            "claimedNano": 5,
            "claimableTon": "0.000000123",
            "claimedTon": "0",
        },
        "lastClaims": [{"time": "2026-01-01T00:00:00Z", "proxyAddress": "a", "tokens": 1, "amountNano": "2"}],
        "models": [{"name": "m", "ready": True}],
    }
    doc = {"apiVersion": "cocoon.tonops.dev/v1alpha1", "kind": "CocoonNode", "metadata": {"name": "x"}}
    doc["spec"] = minimal_spec()
    doc["status"] = status
    assert [e.message for e in _validator(load_crd()).iter_errors(doc)] == []
    parsed = CocoonNodeStatus.model_validate(status)
    assert parsed.model_dump(by_alias=True, mode="json", exclude_none=True, exclude_defaults=True) == status


INVALID = [
    ("model", {"model": "Qwen/Qwen3-8B@abc:def"}),
    ("ownerAddress", {"ownerAddress": "not-an-address"}),
    ("workerCoefficient", {"workerCoefficient": -1}),
    ("workerCoefficient", {"workerCoefficient": 4001}),
    ("placement", {"placement": {"gpuCount": 0}}),
    ("placement", {"placement": {"tee": "SGX"}}),
    ("wallet", {"wallet": {"secretRef": {"name": "w"}, "floor": "2,5"}}),
    ("wallet", {"wallet": {"secretRef": {"name": "w"}, "target": "1e3"}}),
    ("rewards", {"rewards": {"checkInterval": "5 minutes"}}),
    ("rewards", {"rewards": {"maxFeeFraction": "1.5"}}),
    ("imageHash", {"imageHash": "xyz"}),
]


@pytest.mark.parametrize(("field", "override"), INVALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_invalid_specs_are_rejected_by_both(field: str, override: dict[str, Any]) -> None:
    doc = {"apiVersion": "cocoon.tonops.dev/v1alpha1", "kind": "CocoonNode", "metadata": {"name": "x"}}
    doc["spec"] = minimal_spec(**override)
    errors = list(_validator(load_crd()).iter_errors(doc))
    assert errors, f"CRD accepted {override}"
    assert any(field in ".".join(str(p) for p in e.absolute_path) for e in errors)
    with pytest.raises(ValidationError) as info:
        parse_spec(doc["spec"])
    assert any(str(err["loc"][0]) in (field, _snake(field)) for err in info.value.errors())


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# CEL rules (jsonschema cannot evaluate them): the model refuses the same specs, without echoing input.
CEL_ONLY = [
    ("wallet", {"wallet": {"secretRef": {"name": "w"}, "floor": "100.5", "target": "101"}}),
    ("wallet", {"wallet": {"secretRef": {"name": "w"}, "target": "9999999999"}}),
    (
        "inference",
        {
            "inference": {
                "modelSource": {"url": "https://user:hunter2@h.invalid/m.tar"},
                "modelSha256": "a" * 64,
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("field", "override"), CEL_ONLY, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CEL_ONLY)]
)
def test_cel_limits_are_mirrored_by_the_model(field: str, override: dict[str, Any]) -> None:
    from cocoon_operator.reconcile.run import spec_errors

    with pytest.raises(ValidationError) as info:
        parse_spec(minimal_spec(**override))
    assert {str(err["loc"][0]) for err in info.value.errors()} == {field}
    assert "hunter2" not in spec_errors(info.value)


def test_wallet_limit_constant_matches_the_crd() -> None:
    from cocoon_operator.api.spec import MAX_WALLET_TON

    wallet = _version_schema(load_crd())["properties"]["spec"]["properties"]["wallet"]["properties"]
    for name in ("floor", "target"):
        rules = [v["rule"] for v in wallet[name]["x-kubernetes-validations"]]
        assert f"quantity(self).compareTo(quantity('{MAX_WALLET_TON}')) <= 0" in rules, name
