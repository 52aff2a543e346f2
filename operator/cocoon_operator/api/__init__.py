"""Typed models of the CocoonNode API (no kopf, no Kubernetes client)."""

from cocoon_operator.api.identity import API_VERSION, GROUP, KIND, PLURAL, VERSION
from cocoon_operator.api.observed import CocoonNodeStatus, Condition
from cocoon_operator.api.spec import CocoonNodeSpec, ModelRef, parse_spec

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "CocoonNodeSpec",
    "CocoonNodeStatus",
    "Condition",
    "ModelRef",
    "parse_spec",
]
