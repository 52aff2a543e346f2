"""Leader election rules (leader.py) against an in-memory Lease API with resourceVersion checks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.leader import LeaderElector, LeaseTimings

TIMINGS = LeaseTimings(lease_s=15, renew_deadline_s=10, retry_s=2)


class Leases:
    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.rv = 0
        self.down = False  # the API server does not answer

    def _check(self) -> None:
        if self.down:
            raise ApiError(503, "ServiceUnavailable", "down")

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        self._check()
        return copy.deepcopy(self.obj)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        self._check()
        if self.obj is not None:
            return None
        self.rv += 1
        self.obj = copy.deepcopy(obj)
        self.obj["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.obj)

    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self._check()
        assert self.obj is not None
        if patch["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "modified")
        for key, value in patch["spec"].items():
            if value is None:
                self.obj["spec"].pop(key, None)
            else:
                self.obj["spec"][key] = value
        self.rv += 1
        self.obj["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.obj)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _elector(api: Leases, name: str, clock: Clock) -> LeaderElector:
    return LeaderElector(api, namespace="ns", name="lease", identity=name, timings=TIMINGS, clock=clock)


async def test_one_leader_and_a_handover_within_lease_plus_retry() -> None:
    api, clock = Leases(), Clock()
    a, b = _elector(api, "a", clock), _elector(api, "b", clock)
    await a.step()
    await b.step()
    assert a.leading and not b.leading
    # a renews while b watches: b never takes over a live lease
    for _ in range(20):
        clock.t += TIMINGS.retry_s
        await a.step()
        await b.step()
        assert a.leading and not b.leading
    died_at = clock.t  # a is SIGKILLed: no more renewals
    while not b.leading:
        clock.t += TIMINGS.retry_s
        await b.step()
    handover = clock.t - died_at
    assert TIMINGS.lease_s <= handover <= TIMINGS.lease_s + TIMINGS.retry_s
    assert api.obj is not None and api.obj["spec"]["holderIdentity"] == "b"
    assert api.obj["spec"]["leaseTransitions"] == 1


async def test_a_leader_that_cannot_renew_steps_down_before_anyone_takes_over() -> None:
    api, clock = Leases(), Clock()
    stopped: list[float] = []

    async def on_stopped() -> None:
        stopped.append(clock.t)

    a = LeaderElector(
        api, namespace="ns", name="lease", identity="a", timings=TIMINGS, clock=clock, on_stopped=on_stopped
    )
    b = _elector(api, "b", clock)
    await a.step()
    await b.step()
    last_renew = clock.t
    api.down = True  # a partitioned from the API server
    while a.leading:
        clock.t += TIMINGS.retry_s
        await a.step()
    assert stopped and stopped[0] - last_renew <= TIMINGS.renew_deadline_s + TIMINGS.retry_s
    assert stopped[0] - last_renew < TIMINGS.lease_s  # before b could ever take the lease
    api.down = False
    while not b.leading:
        clock.t += TIMINGS.retry_s
        await b.step()
    assert clock.t - last_renew >= TIMINGS.lease_s


async def test_a_released_lease_is_taken_at_once() -> None:
    api, clock = Leases(), Clock()
    a, b = _elector(api, "a", clock), _elector(api, "b", clock)
    await a.step()
    await b.step()
    await a.release()
    assert not a.leading
    await b.step()
    assert b.leading


async def test_two_candidates_never_both_win() -> None:
    api, clock = Leases(), Clock()
    a = _elector(api, "a", clock)
    await a.step()
    clock.t += 100  # a died long ago
    b_view, a_view = _elector(api, "b", clock), _elector(api, "c", clock)
    await b_view.step()
    await a_view.step()
    for _ in range(10):
        clock.t += TIMINGS.retry_s
        await b_view.step()
        await a_view.step()
    assert b_view.leading != a_view.leading


def test_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaseTimings(lease_s=10, renew_deadline_s=10, retry_s=2)
