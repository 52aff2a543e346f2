"""The chain tier's usual client of `ton_chain`: a LiteBalancer (as the operator runs it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cocoon_operator.ton.client import ChainClient, ChainSettings


@pytest.fixture
async def balancer(ton_chain: Any) -> AsyncIterator[ChainClient]:
    _, cfg = ton_chain
    async with ChainClient.from_config(cfg, ChainSettings(call_timeout_s=10)) as c:
        yield c


@pytest.fixture
def client(balancer: ChainClient) -> ChainClient:
    return balancer
