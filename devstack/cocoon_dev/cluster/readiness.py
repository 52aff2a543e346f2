"""Polling a component until it answers, with a deadline and the log file to blame on failure."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from cocoon_dev.procs import ProcRef

from .errors import ClusterError
from .pki import Pki


def admin_ssl_context(pki: Pki) -> ssl.SSLContext:
    """TLS context that trusts the cluster CA and presents the admin client certificate."""
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    admin = pki.clients["admin"]
    ctx.load_cert_chain(str(admin.cert), str(admin.key))
    return ctx


def insecure_ssl_context() -> ssl.SSLContext:
    """For controller-manager/scheduler health endpoints, which serve a self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_ok(url: str, verify: ssl.SSLContext | bool = True, timeout_s: float = 3.0) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout_s: float,
    log: Path,
    proc: ProcRef | None = None,
    interval_s: float = 0.25,
) -> None:
    """Poll `check` until true; fail early if the process died, with a hint from its log."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return
        if proc is not None and not proc.alive():
            raise ClusterError(f"{what}: the process exited during start-up{_log_hint(log)}", log)
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not ready after {timeout_s:.0f} s{_log_hint(log)}", log)
        time.sleep(interval_s)


def _log_hint(log: Path) -> str:
    """A short cause, when the log shows a well-known one."""
    try:
        text = log.read_text(errors="replace")[-20000:]
    except OSError:
        return ""
    if "address already in use" in text:
        return " (a port it needs is already in use)"
    return ""
