"""cocoon-operator: runs COCOON workers on confidential GPU nodes.

Kept light on purpose: importing the package must not import kopf or register handlers.
The kopf entry point is `cocoon_operator.handlers`.
"""

__version__ = "0.1.0"
