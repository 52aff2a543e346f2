"""Thin async Kubernetes access (aiohttp + the official kubeconfig loader); no kopf."""

from cocoon_operator.k8s.client import KubeClient
from cocoon_operator.k8s.errors import ApiError

__all__ = ["ApiError", "KubeClient"]
