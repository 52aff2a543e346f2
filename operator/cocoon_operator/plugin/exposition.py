"""The traffic columns of the fleet table from the operator's own metrics (the status carries no
traffic counters): requests the runner served and tokens credited, per CocoonNode."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from cocoon_operator.plugin.table import FleetRow

Key = tuple[str, str]  # (namespace, name)


def traffic(text: str) -> dict[Key, tuple[int | None, int | None]]:
    """(requests served, adjusted tokens) per CocoonNode from an exposition."""
    requests: dict[Key, int] = {}
    tokens: dict[Key, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.labels.get("namespace", ""), sample.labels.get("name", ""))
            if (
                sample.name == "cocoon_worker_runner_requests_total"
                and sample.labels.get("outcome") == "success"
            ):
                requests[key] = int(sample.value)
            elif sample.name == "cocoon_worker_adjusted_tokens_total":
                tokens[key] = int(sample.value)
    return {key: (requests.get(key), tokens.get(key)) for key in requests.keys() | tokens.keys()}


def apply(rows: Iterable[FleetRow], text: str | None) -> None:
    if not text:
        return
    found = traffic(text)
    for row in rows:
        requests, tokens = found.get((row.namespace, row.name), (None, None))
        row.requests = requests if requests is not None else row.requests
        row.tokens = tokens if tokens is not None else row.tokens


def fetch(url: str, timeout_s: float = 10.0) -> str | None:
    """GET a metrics endpoint given on the command line (e.g. a port-forward); None on failure."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--metrics-url must be an http(s) URL, not {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - checked above
            return bytes(response.read()).decode("utf-8", "replace")
    except OSError:
        return None
