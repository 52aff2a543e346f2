"""Names that identify the API and the operator's objects (one place, used everywhere)."""

from typing import Final

GROUP: Final = "cocoon.tonops.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "CocoonNode"
PLURAL: Final = "cocoonnodes"
RESOURCE: Final = f"{PLURAL}.{GROUP}"

FINALIZER: Final = f"{GROUP}/finalizer"
ANNOTATION_PREFIX: Final = GROUP
FIELD_MANAGER: Final = "cocoon-operator"

LABEL_NAME: Final = "app.kubernetes.io/name"
LABEL_INSTANCE: Final = "app.kubernetes.io/instance"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_NODE: Final = f"{GROUP}/node"
WORKER_APP: Final = "cocoon-worker"
MANAGED_BY: Final = "cocoon-operator"

# Key of the node wallet key inside the wallet Secret (named after the runner's config field).
WALLET_SECRET_KEY: Final = "node_wallet_key"  # noqa: S105 - a key name, not a secret
# Which CocoonNode may use a wallet Secret (issue 16). The operator writes the first on a wallet Secret
# it creates (the CocoonNode's UID); a cluster admin writes the second to hand an existing key to the
# CocoonNode of that name. The chart's ValidatingAdmissionPolicy lets only holders of the `adopt`
# permission (the operator and admins) set or change either, or change a Secret that carries them.
ANNOTATION_BOUND_UID: Final = f"{GROUP}/bound-uid"
ANNOTATION_ADOPT_FOR: Final = f"{GROUP}/adopt-for"


def child_labels(cn_name: str) -> dict[str, str]:
    """Labels every child of a CocoonNode carries (selectors use `selector_labels`)."""
    return {
        LABEL_NAME: WORKER_APP,
        LABEL_INSTANCE: cn_name,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_NODE: cn_name,
    }


def selector_labels(cn_name: str) -> dict[str, str]:
    return {LABEL_NAME: WORKER_APP, LABEL_NODE: cn_name}


def worker_pod_name(cocoonnode: str) -> str:
    """The worker pod: the only replica of the CocoonNode's StatefulSet."""
    return f"{cocoonnode}-0"
