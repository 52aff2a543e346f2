"""docs/crd-reference.md is generated from crds/cocoonnodes.yaml; this test keeps it current.

Regenerate: `python -m tests.unit.test_crd_reference_doc`
"""

import json
from pathlib import Path
from typing import Any

from tests.unit.builders import ROOT, load_crd

DOC = ROOT / "docs" / "crd-reference.md"


def _type(schema: dict[str, Any]) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    kind = str(schema.get("type", "object"))
    if kind == "array":
        return f"[]{_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return f"map[string]{_type(schema['additionalProperties'])}"
    return kind


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    for key in ("enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "maxItems"):
        if key in schema:
            value = schema[key]
            parts.append(f"{key} `{'|'.join(value) if key == 'enum' else value}`")
    for rule in schema.get("x-kubernetes-validations", []):
        parts.append(f"CEL: {rule['message']}")
    return "; ".join(parts)


def _rows(schema: dict[str, Any], path: str, required: set[str], out: list[str]) -> None:
    props = schema.get("properties", {})
    if schema.get("type") == "array":
        props = schema.get("items", {}).get("properties", {})
        required = set(schema.get("items", {}).get("required", []))
    for name, sub in props.items():
        full = f"{path}.{name}" if path else name
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub and sub["default"] != {} else ""
        desc = " ".join(str(sub.get("description", "")).split()).replace("|", "\\|")
        req = "yes" if name in required else ""
        cons = _constraints(sub).replace("|", "\\|")
        out.append(f"| `{full}` | {_type(sub)} | {req} | {default} | {desc} | {cons} |")
        if sub.get("type") in ("object", "array") and "additionalProperties" not in sub:
            nested_required = set(sub.get("required", []))
            _rows(sub, f"{full}[]" if sub.get("type") == "array" else full, nested_required, out)


def render() -> str:
    crd = load_crd()
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    names = crd["spec"]["names"]
    lines = [
        "# CocoonNode API reference",
        "",
        "<!-- Generated from crds/cocoonnodes.yaml by "
        "`python -m tests.unit.test_crd_reference_doc`; do not edit. -->",
        "",
        f"`{crd['spec']['group']}/{version['name']}`, kind `{names['kind']}` (namespaced), "
        f"plural `{names['plural']}`, "
        f"short name `{', '.join(names['shortNames'])}`, categories `{', '.join(names['categories'])}`.",
        "",
        " ".join(schema["description"].split()),
        "",
    ]
    for rule in schema.get("x-kubernetes-validations", []):
        lines.append(f"Object rule: {rule['message']}.")
    for section in ("spec", "status"):
        sub = schema["properties"][section]
        lines += [
            "",
            f"## {section}",
            "",
            " ".join(str(sub.get("description", "")).split()),
            "",
        ]
        for rule in sub.get("x-kubernetes-validations", []):
            lines.append(f"Rule: {rule['message']}.")
            lines.append("")
        lines += [
            "| field | type | required | default | description | validation |",
            "|---|---|---|---|---|---|",
        ]
        out: list[str] = []
        _rows(sub, section, set(sub.get("required", [])), out)
        lines += out
    lines += ["", "## Printer columns", "", "| column | JSONPath | shown |", "|---|---|---|"]
    for col in version["additionalPrinterColumns"]:
        lines.append(
            f"| {col['name']} | `{col['jsonPath']}` | {'-o wide' if col.get('priority') else 'default'} |"
        )
    return "\n".join(lines) + "\n"


def test_crd_reference_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m tests.unit.test_crd_reference_doc"


if __name__ == "__main__":
    Path(DOC).write_text(render())
    print(f"wrote {DOC}")
