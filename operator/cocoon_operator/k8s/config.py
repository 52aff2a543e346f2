"""Connection settings from a kubeconfig or the in-cluster service account (official loader)."""

import os
import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Connection:
    host: str
    ssl_context: ssl.SSLContext | bool
    configuration: Any  # kubernetes.client.Configuration: re-read for rotating tokens

    def auth_headers(self) -> dict[str, str]:
        token = bearer_token(self.configuration)
        return {"Authorization": token} if token else {}


def bearer_token(configuration: Any) -> str | None:
    """The `Bearer …` credential of a loaded configuration, or None for client-certificate auth.

    kubernetes>=35 stores it under `BearerToken`, older releases under `authorization`.
    get_api_key_with_prefix runs the loader's refresh hook (projected tokens rotate in-cluster).
    """
    for key in ("BearerToken", "authorization"):
        token = configuration.get_api_key_with_prefix(key)
        if token:
            return str(token)
    return None


def load(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """In-cluster when KUBERNETES_SERVICE_HOST is set and no kubeconfig is named, else the kubeconfig."""
    from kubernetes import client as kclient  # heavy: import only when connecting
    from kubernetes import config as kconfig

    configuration = kclient.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kconfig.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        kconfig.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path, context=context, client_configuration=configuration
        )
    return Connection(
        host=configuration.host.rstrip("/"), ssl_context=_ssl(configuration), configuration=configuration
    )


def _ssl(configuration: Any) -> ssl.SSLContext | bool:
    if not configuration.host.startswith("https"):
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
