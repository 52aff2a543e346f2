"""cocoon-dev: the local development stack (a development stand-in, never used in production)."""

__version__ = "0.1.0"
