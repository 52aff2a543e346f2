"""cocoon-operator: runs COCOON workers on confidential GPU nodes.

Kept light on purpose: importing the package must not import kopf or register handlers.
The kopf entry point is `cocoon_operator.handlers`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: the git tag it was built from (setuptools-scm).
    __version__ = version("cocoon-operator")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"
