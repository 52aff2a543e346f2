"""`cocoon-dev`: the local development stack's command line.

Each component registers its own sub-command group from `cocoon_dev.<component>.cli`
(a module exposing `register(subparsers)`), so components stay independent.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Component modules, in the order their command groups are listed in --help.
COMPONENTS = ("cluster", "ton", "runtime", "stack")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cocoon-dev",
        description="Local COCOON provider stack: Kubernetes control plane with a fake confidential GPU "
        "fleet, a local TON chain on the real TVM, a process runtime and the operator.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMPONENTS:
        try:
            module = importlib.import_module(f"cocoon_dev.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"cocoon_dev.{name}"):
                continue  # component not present in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
