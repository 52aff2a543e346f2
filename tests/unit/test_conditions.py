"""The conditions registry: one place for types, owners, Ready's rule and reasons; the doc follows it.

Regenerate the doc: `python -m cocoon_operator.conditions --write`.
"""

from pathlib import Path

import pytest

from cocoon_operator import status as st
from cocoon_operator.conditions import (
    BY_TYPE,
    CONDITION_TYPES,
    REGISTRY,
    REQUIRED_FOR_READY,
    ConditionType,
    Reason,
)
from cocoon_operator.conditions.docs import misdocumented, render_markdown, undocumented
from cocoon_operator.status import Cond

DOC = Path(__file__).resolve().parents[2] / "docs" / "conditions.md"


def test_docs_conditions_md_is_generated_from_the_registry() -> None:
    assert DOC.read_text() == render_markdown(), "run: python -m cocoon_operator.conditions --write"


def test_every_reason_is_documented_for_every_type_that_carries_it() -> None:
    assert undocumented() == []
    assert misdocumented() == []
    used = {r for spec in REGISTRY if spec.type is not ConditionType.READY for r in spec.reasons}
    ready_own = {Reason.RECONCILED, Reason.RECONCILING}  # Ready otherwise borrows the blocking reason
    assert set(Reason) == used | ready_own, "a reason no condition type carries"


def test_registry_drives_the_order_and_ready() -> None:
    assert CONDITION_TYPES[0] is ConditionType.READY and set(CONDITION_TYPES) == set(ConditionType)
    assert REQUIRED_FOR_READY == (
        ConditionType.CONFIGURED,
        ConditionType.SCHEDULED,
        ConditionType.INFERENCE_READY,
    )
    assert ConditionType.RUNNER_HEALTHY in CONDITION_TYPES  # starts Unknown like every other type
    assert {spec.step for spec in REGISTRY} == {"reconcile", "health", "chain", "rewards"}
    merged = st.merge_conditions(
        None, [Cond.true(t, next(iter(BY_TYPE[t].reasons)), "") for t in reversed(CONDITION_TYPES)], 1
    )
    assert [c["type"] for c in merged] == [str(t) for t in CONDITION_TYPES]


def test_a_reason_the_type_does_not_list_is_refused_in_strict_mode() -> None:
    with pytest.raises(ValueError, match="may not carry reason"):
        Cond.false(ConditionType.SCHEDULED, Reason.CLAIMS_STALLED, "nonsense")
    Cond.false(ConditionType.READY, Reason.CLAIMS_STALLED, "Ready carries the blocking condition's reason")
