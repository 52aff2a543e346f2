"""A failed liteserver connect is not retried by every reconcile: the hub fails fast for a while."""

from typing import Any

import pytest

from cocoon_operator.steps import common
from cocoon_operator.steps.common import ChainHub
from cocoon_operator.ton.client import ChainUnavailable

pytestmark = pytest.mark.asyncio


class DeadClient:
    attempts = 0

    def __init__(self) -> None:
        self.on_query: Any = None

    async def start(self) -> None:
        DeadClient.attempts += 1
        raise ChainUnavailable("None of the 1 liteservers answered")

    async def close(self) -> None:
        return None


class Hub(ChainHub):
    async def global_config(self, ctx: Any) -> tuple[str, dict[str, Any]]:
        return "cfg", {}


async def test_connect_failures_back_off_with_a_stable_message(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(
        common.ChainClient, "from_config", staticmethod(lambda config, settings: DeadClient())
    )
    DeadClient.attempts = 0
    hub = Hub()
    hub.clock = lambda: now[0]
    messages = []
    for _ in range(20):  # a burst of reconciles while the liteservers are down
        with pytest.raises(ChainUnavailable) as err:
            await hub.client(None)  # type: ignore[arg-type]
        messages.append(str(err.value))
    assert DeadClient.attempts == 1
    assert set(messages) == {"None of the 1 liteservers answered"}
    now[0] += 5.1  # first back-off over: one new attempt, then 10 s of quiet
    with pytest.raises(ChainUnavailable):
        await hub.client(None)  # type: ignore[arg-type]
    assert DeadClient.attempts == 2
    now[0] += 6
    with pytest.raises(ChainUnavailable):
        await hub.client(None)  # type: ignore[arg-type]
    assert DeadClient.attempts == 2
