"""The chain tier's usual pair: the COCOON network deployed on `ton_chain`, and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork, deploy_cocoon_network
from cocoon_operator.ton.client import ChainClient, ChainSettings


@pytest.fixture
async def network(ton_chain: Any) -> CocoonNetwork:
    chain, _ = ton_chain
    return await deploy_cocoon_network(chain)


@pytest.fixture
async def balancer(ton_chain: Any) -> AsyncIterator[ChainClient]:
    _, cfg = ton_chain
    async with ChainClient.from_config(cfg, ChainSettings(call_timeout_s=10)) as c:
        yield c


@pytest.fixture
def client(balancer: ChainClient) -> ChainClient:
    return balancer
