"""The guards a CocoonVM passes before anything is created for it (no kopf; reads only).

A CocoonVM's launcher pod is privileged on a bare-metal host, so what may run there is the cluster
admin's decision, never an object author's:
- the namespace must be one the admin marked for launchers (`COCOON_LAUNCHER_NAMESPACES`, the chart's
  launcher.namespaces; those namespaces allow privileged pods, the others stay restricted);
- the launcher image comes from the operator's settings only (`COCOON_LAUNCHER_IMAGE`);
- the release (whose `cocoon-launch` runs in that pod) must be the admin's default or one whose SHA-256
  the admin allowed (`COCOON_VM_ALLOWED_RELEASE_SHA256S`);
- a Hugging Face token Secret it names must exist and hold the key (its value is never read here).

A refusal is `Configured=False` with a CamelCase reason and a message naming the field and what to do;
nothing is created (the wallet Secret included).
"""

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.conditions import Reason
from cocoon_operator.reconcile.launcher import release_of
from cocoon_operator.reconcile.runtime_kind import Reads, Refusal
from cocoon_operator.settings import Settings


def static_refusal(spec: CocoonNodeSpec, namespace: str, settings: Settings) -> Refusal | None:
    """The checks that need no API read (unit-tested directly)."""
    if namespace not in settings.launcher_namespaces:
        marked = ", ".join(settings.launcher_namespaces) or "none"
        return Refusal(
            Reason.LAUNCHER_NAMESPACE_NOT_ALLOWED,
            f"spec.runtime.kind: CocoonVM runs a privileged launcher pod, and namespace {namespace} is not "
            f"marked for launchers (marked: {marked}; the chart value launcher.namespaces). Use a marked "
            "namespace or runtime kind TritonPod; nothing was created",
        )
    if not settings.launcher_image:
        return Refusal(
            Reason.LAUNCHER_NOT_CONFIGURED,
            "spec.runtime.kind: CocoonVM needs the launcher image, which the operator has not been given "
            "(COCOON_LAUNCHER_IMAGE, the chart value launcher.image); nothing was created",
        )
    release = release_of(spec, settings)
    if release is None:
        return Refusal(
            Reason.RELEASE_NOT_CONFIGURED,
            "spec.runtime.vm.release is not set and the operator has no default worker release "
            "(the chart value launcher.release); nothing was created",
        )
    allowed = {settings.vm_release_sha256, *settings.vm_allowed_release_sha256s} - {""}
    if release.sha256 not in allowed:
        return Refusal(
            Reason.RELEASE_NOT_ALLOWED,
            f"spec.runtime.vm.release.sha256 {release.sha256} is not a release the cluster admin allowed "
            "(the chart values launcher.release and launcher.allowedReleaseSha256s): the release's "
            "cocoon-launch runs in a privileged pod; nothing was created",
        )
    return None


async def refusal(spec: CocoonNodeSpec, namespace: str, settings: Settings, kube: Reads) -> Refusal | None:
    """None when a CocoonVM may proceed."""
    found = static_refusal(spec, namespace, settings)
    if found is not None:
        return found
    vm = spec.runtime.vm
    ref = vm.hf_token_secret_ref if vm is not None else None
    if ref is not None:
        secret = await kube.get("v1", "Secret", namespace, ref.name)
        if secret is None:
            return Refusal(
                Reason.HF_TOKEN_SECRET_NOT_FOUND,
                f"spec.runtime.vm.hfTokenSecretRef: Secret {ref.name} not found",
            )
        data = secret.get("data")
        if not isinstance(data, dict) or ref.key not in data:
            return Refusal(
                Reason.HF_TOKEN_SECRET_KEY_MISSING,
                f"spec.runtime.vm.hfTokenSecretRef: Secret {ref.name} has no key {ref.key!r}",
            )
    return None
