"""Fixtures for the CRD tier: the canonical CRD installed into the session cluster."""

from typing import Any

import pytest

from tests.crd.support import install_crd


@pytest.fixture(scope="session")
def cocoon_crd(cluster: Any) -> Any:
    install_crd(cluster)
    return cluster
