"""`cocoon-operator run [...]` and `python -m cocoon_operator run [...]`."""

import argparse
import sys
from collections.abc import Sequence

from cocoon_operator import memtrace


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cocoon-operator", description="Runs COCOON workers on confidential GPU nodes"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch all namespaces (default)")
    run.add_argument(
        "--liveness", metavar="URL", help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    run.add_argument("--priority", type=int, default=None, help="peering priority")
    run.add_argument("--peering", default=None, help="peering object name")
    run.add_argument("-v", "--verbose", action="store_true")
    run.add_argument("--debug", action="store_true")
    return parser


def _small_tls_buffers() -> None:
    """asyncio zero-fills a 256 KiB receive buffer for every TLS connection, so each one costs that much
    resident memory: ~60 connections to the API server held ~15 MB at N = 300 (tracemalloc,
    docs/performance.md, issue 20). 64 KiB still takes four full TLS records per read."""
    import asyncio.sslproto

    asyncio.sslproto.SSLProtocol.max_size = 64 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    memtrace.install()  # off unless COCOON_TRACEMALLOC is set; first, so it sees every import
    _small_tls_buffers()
    # Deferred on purpose, not to dodge a cycle: `--help` and argument errors answer without kopf.
    import kopf

    import cocoon_operator.handlers  # noqa: F401 - registers the handlers

    kopf.configure(verbose=args.verbose, debug=args.debug)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=args.standalone,
        priority=args.priority,
        peering_name=args.peering,
        liveness_endpoint=args.liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
