"""COCOON worker runner simulator: a development stand-in for the official `worker-runner`.

It is NOT the official runner (which needs an Intel TDX guest, RA-TLS and real proxies). It copies
the runner's HTTP API on port 12000 (`/jsonstats`, `/stats`, `/perf`, `/request/*`) with the same
field names, order, answers and quirks (cocoon-protocol.md §4), and plays the proxy side itself:
it sends real inference requests to the worker's OpenAI endpoint, credits adjusted tokens with the
published formula (§11), commits them, signs cumulative vouchers with the proxy key and, with a
chain, deploys the worker contract and submits payouts from the cocoon wallet (§7.6, §8.3).
Every user-visible place says "cocoon-dev-simulator". See docs/local-runtime.md.
"""

SIMULATOR_COMMIT = "cocoon-dev-simulator"
SIMULATOR_COMMIT_DATA = "development stand-in for the COCOON worker runner (not the official runner)"
