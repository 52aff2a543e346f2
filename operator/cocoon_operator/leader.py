"""Leader election with a `coordination.k8s.io/v1` Lease: one operator process reconciles at a time.

Two processes overlap in real clusters (a replacement pod starting while an evicted one terminates,
a second install, the chart's standby replica). Only the Lease holder runs reconciles; the others
keep their watches warm and wait. The rules are client-go's:

- the holder renews every `retry_s`; if it cannot renew for `renew_deadline_s` it stops leading at
  once (before anyone else may take over: `renew_deadline_s` < `lease_s`);
- a candidate takes the Lease over only when the Lease has not changed for `lease_s` by its *own*
  monotonic clock since it last saw it change (clock skew between nodes does not matter);
- every write is guarded by the Lease's resourceVersion, so two candidates never both win.

A handover therefore takes at most `lease_s` + `retry_s` after the holder dies (measured in
tests/e2e/test_rewards_e2e.py::test_two_operators_one_leader_and_a_quick_handover and the chaos run,
docs/reliability.md). Money safety does not rest on this alone:
money records are guarded writes (money/records.py), so even an overlap acts at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cocoon_operator.k8s.api import ObjectCreator, ObjectPatcher, ObjectReader
from cocoon_operator.k8s.errors import ApiError

log = logging.getLogger(__name__)

API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"


class LeaseApi(ObjectReader, ObjectCreator, ObjectPatcher, Protocol):
    """What leader election needs of the Kubernetes client."""


@dataclass(frozen=True)
class LeaseTimings:
    lease_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_s < self.renew_deadline_s < self.lease_s:
            raise ValueError("leader election needs 0 < retry < renew deadline < lease duration")


def _micro_time(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Run with `run()`; `leading` tells whether this process holds the Lease right now."""

    def __init__(
        self,
        kube: LeaseApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings | None = None,
        on_started: Callable[[], Awaitable[None]] | None = None,
        on_stopped: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timings = timings or LeaseTimings()
        self._on_started, self._on_stopped = on_started, on_stopped
        self._clock = clock
        self.leading = False
        self._last_renew = 0.0
        self._observed: tuple[str, str, str] | None = None  # (holder, renewTime, resourceVersion)
        self._observed_at = 0.0
        self.transitions = 0  # times this process became the leader

    async def run(self) -> None:
        try:
            while True:
                await self.step()
                await asyncio.sleep(self.timings.retry_s)
        finally:
            if self.leading:
                await self._stop_leading("shutting down")

    async def step(self) -> None:
        """One attempt: acquire or renew; step down when renewing failed for too long."""
        try:
            ok = await self._try_acquire_or_renew()
        except (ApiError, OSError, TimeoutError) as exc:
            log.warning("Lease %s/%s: %s", self.namespace, self.name, type(exc).__name__)
            ok = False
        now = self._clock()
        if ok:
            self._last_renew = now
            if not self.leading:
                self.leading = True
                self.transitions += 1
                log.info("Became the leader", extra={"lease": f"{self.namespace}/{self.name}"})
                if self._on_started is not None:
                    await self._on_started()
        elif self.leading and now - self._last_renew > self.timings.renew_deadline_s:
            await self._stop_leading("could not renew the lease in time")

    async def release(self) -> None:
        """Give the Lease up at once (a clean shutdown: the standby need not wait for it to expire)."""
        if not self.leading:
            return
        with contextlib.suppress(ApiError, OSError, TimeoutError):
            lease = await self.kube.get(API_VERSION, KIND, self.namespace, self.name)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                await self._write(lease, {"holderIdentity": None, "renewTime": None})
        await self._stop_leading("released")

    async def _stop_leading(self, why: str) -> None:
        self.leading = False
        log.warning("Stopped leading: %s", why, extra={"lease": f"{self.namespace}/{self.name}"})
        if self._on_stopped is not None:
            await self._on_stopped()

    async def _try_acquire_or_renew(self) -> bool:
        lease = await self.kube.get(API_VERSION, KIND, self.namespace, self.name)
        if lease is None:
            created = await self.kube.create(self._new_lease())
            return created is not None  # None: someone else created it first
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        seen = (holder, str(spec.get("renewTime") or ""), str(lease["metadata"].get("resourceVersion")))
        now = self._clock()
        if seen != self._observed:
            self._observed, self._observed_at = seen, now
        if holder == self.identity:
            return await self._write(lease, {"renewTime": _micro_time()})
        duration = float(spec.get("leaseDurationSeconds") or self.timings.lease_s)
        if holder and now - self._observed_at < duration:
            return False  # held, and alive as far as this process has seen
        transitions = int(spec.get("leaseTransitions") or 0) + 1
        stamp = _micro_time()
        return await self._write(
            lease,
            {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.timings.lease_s),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": transitions,
            },
        )

    async def _write(self, lease: dict[str, Any], spec: dict[str, Any]) -> bool:
        patch = {"metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]}, "spec": spec}
        try:
            await self.kube.patch(API_VERSION, KIND, self.namespace, self.name, patch)
        except ApiError as exc:
            if exc.conflict:
                return False  # someone else wrote first
            raise
        return True

    def _new_lease(self) -> dict[str, Any]:
        stamp = _micro_time()
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.timings.lease_s),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
