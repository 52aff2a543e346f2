"""The VFIO GPU a device plugin hands a pod (pure; shared by the operator and the dev stack's launcher).

Everything else that differs between runtime kinds is in the reconcile's registry, `reconcile/runtimes.py`.
"""

import re


def pci_env_var(resource: str) -> str:
    """The variable a VFIO device plugin sets to the allocated PCI addresses (comma separated).

    KubeVirt's convention, which NVIDIA's sandbox device plugin follows: `PCI_RESOURCE_` plus the
    resource name in upper case with every character outside [A-Z0-9_] as `_`, e.g.
    `nvidia.com/GH100_H100_SXM5_80GB` -> `PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB`.
    """
    return "PCI_RESOURCE_" + re.sub(r"[^A-Z0-9_]", "_", resource.upper())
