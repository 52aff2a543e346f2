"""Shared pytest configuration. Each component's fixtures live in tests/fixtures/<component>.py."""

import os

# A condition built with a reason its type does not list raises in the tests (and in the operator
# processes they start, which inherit this), instead of only being logged: cocoon_operator.conditions.
os.environ.setdefault("COCOON_STRICT_CONDITIONS", "1")

pytest_plugins = [
    "tests.fixtures.cluster",
    "tests.fixtures.chain",
    "tests.fixtures.runtime",
]
