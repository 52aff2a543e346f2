"""Pre-delete hook of the cocoon-operator chart.

Deletes every CocoonNode in the operator's scope and waits until they are gone, while the operator
still runs and can release its finalizers. Without this, `helm uninstall` removes the operator first
and the CocoonNodes (and their namespaces) stay stuck on `cocoon.tonops.dev/finalizer`.
Prints object names only, never specs or status.
Environment: COCOON_CLEANUP_NAMESPACE (comma-separated namespaces; empty = all namespaces),
COCOON_CLEANUP_TIMEOUT (seconds).
"""

import os
import sys
import time
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "cocoon.tonops.dev", "v1alpha1", "cocoonnodes"


def _list(api: Any, namespaces: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    try:
        if not namespaces:
            return list(api.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"])
        for namespace in namespaces:
            items += api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    except ApiException as exc:
        if exc.status == 404:  # the CRD is not installed: nothing to clean up
            return []
        raise
    return items


def main() -> int:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()  # run by hand or by the chart tests with a kubeconfig
    api = client.CustomObjectsApi()
    namespaces = [n for n in os.environ.get("COCOON_CLEANUP_NAMESPACE", "").split(",") if n]
    deadline = time.monotonic() + int(os.environ.get("COCOON_CLEANUP_TIMEOUT", "300"))
    for item in _list(api, namespaces):
        meta = item["metadata"]
        try:
            api.delete_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, meta["name"])
            print(f"Deleted CocoonNode {meta['namespace']}/{meta['name']}", flush=True)
        except ApiException as exc:
            if exc.status != 404:
                raise
    while True:
        left = _list(api, namespaces)
        if not left:
            print("All CocoonNodes are gone", flush=True)
            return 0
        if time.monotonic() > deadline:
            names = ", ".join(f"{i['metadata']['namespace']}/{i['metadata']['name']}" for i in left)
            print(
                f"CocoonNodes still present after the timeout (is the operator running?): {names}",
                file=sys.stderr,
                flush=True,
            )
            return 1
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())
