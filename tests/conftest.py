"""Shared pytest configuration. Each component's fixtures live in tests/fixtures/<component>.py."""

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.chain",
    "tests.fixtures.runtime",
]
