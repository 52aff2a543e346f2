"""Fixtures for unit tests."""

from typing import Any

import pytest

from tests.unit.builders import load_crd


@pytest.fixture
def crd() -> dict[str, Any]:
    return load_crd()
