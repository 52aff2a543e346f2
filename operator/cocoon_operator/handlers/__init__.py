"""The only kopf package: importing it registers every handler (`kopf run -m cocoon_operator.handlers`)."""

from cocoon_operator.handlers import cocoonnode, startup

__all__ = ["cocoonnode", "startup"]
