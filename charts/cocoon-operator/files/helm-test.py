"""`helm test` of the cocoon-operator chart: is this install usable?

1. The CocoonNode CRD is installed and Established.
2. The operator is healthy: its Deployment has an available replica (unless replicaCount is 0) and
   its metrics endpoint answers with the operator's exposition (`cocoon_build_info`).
3. The API server accepts a CocoonNode (a server-side dry run: schema, CEL and admission, nothing
   stored) in the namespace the operator watches.
Environment: COCOON_TEST_NAMESPACE (where the dry-run CocoonNode goes), COCOON_TEST_DEPLOYMENT
(namespace/name; empty = no operator pod to check), COCOON_TEST_METRICS_URL (empty = skip),
COCOON_TEST_WORKER_IMAGE (a worker image the chart's image policy admits; "-" = it admits none yet,
so the check is that the policy refuses the sample and says where to list images).
Prints a line per check; exits 1 on the first failure.
"""

import os
import sys
import urllib.request

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL, KIND = "cocoon.tonops.dev", "v1alpha1", "cocoonnodes", "CocoonNode"
CRD = f"{PLURAL}.{GROUP}"
# A spec the schema and CEL accept; a dry run stores nothing and starts nothing.
SAMPLE_SPEC = {
    "model": "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:"
    "7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9",
    "ownerAddress": "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m",
    "network": {
        "globalConfigRef": {"name": "ton-global-config"},
        "rootContractAddress": "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k",
    },
    "wallet": {"secretRef": {"name": "helm-test-wallet"}},
    "placement": {"tee": "TDX"},
    "worker": {"image": "registry.example/cocoon/worker-runner:1.0"},
}


def fail(message: str) -> int:
    print(f"FAIL {message}", flush=True)
    return 1


def main() -> int:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()  # run by hand or by the chart tests with a kubeconfig
    api = client.ApiClient()

    try:
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(CRD)
    except ApiException as exc:
        return fail(f"CRD {CRD}: HTTP {exc.status} {exc.reason}")
    conditions = {c.type: c.status for c in (crd.status.conditions or [])}
    if conditions.get("Established") != "True":
        return fail(f"CRD {CRD} is not Established: {conditions}")
    print(f"ok   CRD {CRD} is Established", flush=True)

    deployment = os.environ.get("COCOON_TEST_DEPLOYMENT", "")
    if deployment:
        namespace, name = deployment.split("/", 1)
        try:
            status = client.AppsV1Api(api).read_namespaced_deployment_status(name, namespace).status
        except ApiException as exc:
            return fail(f"Deployment {deployment}: HTTP {exc.status} {exc.reason}")
        if not (status.available_replicas or 0):
            return fail(f"Deployment {deployment} has no available replica")
        print(
            f"ok   Deployment {deployment} has {status.available_replicas} available replica(s)", flush=True
        )
    else:
        print("skip the operator runs outside the cluster (replicaCount=0)", flush=True)

    url = os.environ.get("COCOON_TEST_METRICS_URL", "")
    if url:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the chart's Service URL
                text = response.read().decode("utf-8", "replace")
        except OSError as exc:
            return fail(f"metrics at {url}: {exc}")
        if "cocoon_build_info" not in text:
            return fail(f"metrics at {url} are not the operator's")
        print(f"ok   the operator's metrics answer at {url}", flush=True)

    namespace = os.environ.get("COCOON_TEST_NAMESPACE") or "default"
    image = os.environ.get("COCOON_TEST_WORKER_IMAGE") or SAMPLE_SPEC["worker"]["image"]
    admits_none = image == "-"
    spec = {**SAMPLE_SPEC, "worker": {"image": SAMPLE_SPEC["worker"]["image"] if admits_none else image}}
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": "helm-test-dry-run", "namespace": namespace},
        "spec": spec,
    }
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, dry_run="All"
        )
    except ApiException as exc:
        if admits_none and exc.status == 403 and "imagePolicy.worker" in str(exc.body):
            print(
                "ok   the image policy refuses every worker image until imagePolicy.worker lists the runner "
                "images you trust (none listed yet)",
                flush=True,
            )
            return 0
        return fail(f"a sample CocoonNode was refused in {namespace}: HTTP {exc.status} {exc.body}")
    if admits_none:
        return fail(
            "imagePolicy.worker lists no image, yet a CocoonNode with an unlisted worker image was admitted"
        )
    print(f"ok   the API server accepts a CocoonNode in {namespace} (server-side dry run)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
