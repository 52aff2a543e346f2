"""The treasury's spending policy, read from its Secret's annotations (money/policy.py)."""

from __future__ import annotations

import pytest

from cocoon_operator.money.policy import TreasuryPolicy

TON = 10**9
OWNER = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m"
OTHER = "0:" + "11" * 32


def test_defaults_are_conservative() -> None:
    policy = TreasuryPolicy.from_annotations(None)
    assert (policy.max_top_up_nano, policy.max_per_day_nano, policy.fund_paused) == (
        10 * TON,
        100 * TON,
        False,
    )
    assert policy.may_fund(owner=OWNER, paused=False) is None
    assert "paused" in (policy.may_fund(owner=OWNER, paused=True) or "")


def test_annotations_set_every_limit() -> None:
    policy = TreasuryPolicy.from_annotations(
        {
            "cocoon.tonops.dev/max-top-up": "2.5",
            "cocoon.tonops.dev/max-per-day": "7",
            "cocoon.tonops.dev/fund-paused": "true",
            "cocoon.tonops.dev/allowed-owners": f"{OWNER}, {OTHER}",
        }
    )
    assert policy.max_top_up_nano == 2_500_000_000 and policy.max_per_day_nano == 7 * TON
    assert policy.may_fund(owner=OWNER, paused=True) is None
    assert policy.refuse(2 * TON, 0) is None
    assert "at most 2.5 TON per top-up" in (policy.refuse(3 * TON, 0) or "")
    assert "6 TON in the last 24 hours" in (policy.refuse(2 * TON, 6 * TON) or "")
    assert policy.refuse(1 * TON, 6 * TON) is None
    only_other = TreasuryPolicy.from_annotations({"cocoon.tonops.dev/allowed-owners": OTHER})
    assert "not among the owners" in (only_other.may_fund(owner=OWNER, paused=False) or "")


@pytest.mark.parametrize(
    ("name", "value"),
    [("max-top-up", "ten"), ("max-per-day", "-1"), ("fund-paused", "yes"), ("allowed-owners", "nope")],
)
def test_a_bad_annotation_is_named(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"cocoon.tonops.dev/{name}"):
        TreasuryPolicy.from_annotations({f"cocoon.tonops.dev/{name}": value})
