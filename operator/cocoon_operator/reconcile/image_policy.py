"""Which worker and inference images the cluster admin allows (issue 16), checked by the operator.

The same rule as the chart's ValidatingAdmissionPolicy (`templates/admission-policies.yaml`): an image
is allowed when it starts with one of the admin's prefixes or ends with `@` + one of the admin's
digests. Images are compared as written in the spec (no registry or tag defaulting), so a prefix must
be written the way CocoonNodes spell their images.
"""

from __future__ import annotations

from collections.abc import Sequence

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.settings import Settings


def allowed(image: str, prefixes: Sequence[str], digests: Sequence[str]) -> bool:
    return any(image.startswith(p) for p in prefixes) or any(image.endswith(f"@{d}") for d in digests)


def problem(spec: CocoonNodeSpec, settings: Settings) -> str | None:
    """None when the policy is off or both images are allowed; else which field and what is allowed."""
    if not settings.image_policy:
        return None
    checks = (
        (
            "spec.worker.image",
            spec.worker.image,
            settings.worker_image_prefixes,
            settings.worker_image_digests,
        ),
        (
            "spec.inference.image",
            spec.inference.image,
            settings.inference_image_prefixes,
            settings.inference_image_digests,
        ),
    )
    for field, image, prefixes, digests in checks:
        if image is None:  # a CocoonVM has no runner image: its launcher image is the chart's
            continue
        if not allowed(image, prefixes, digests):
            listed = [f"{p}*" for p in prefixes] + [f"*@{d}" for d in digests]
            return (
                f"{field}: image {image!r} is not allowed by the cluster's image policy (allowed: "
                f"{', '.join(listed) or 'none listed'}); the cluster admin lists images in the chart's "
                "imagePolicy values"
            )
    return None
