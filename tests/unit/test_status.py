"""Conditions: transitions keep their time, Ready summarises, the diff is empty when nothing changed."""

from cocoon_operator import status as st
from cocoon_operator.conditions import REQUIRED_FOR_READY, Reason
from cocoon_operator.status import Cond


def test_last_transition_time_kept_while_status_unchanged() -> None:
    first = st.merge_conditions(
        None, [Cond.false(st.SCHEDULED, Reason.POD_PENDING, "m1")], 1, now="2026-01-01T00:00:00Z"
    )
    second = st.merge_conditions(
        first, [Cond.false(st.SCHEDULED, Reason.INSUFFICIENT_GPU, "m2")], 2, now="2026-01-01T00:05:00Z"
    )
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert second[0]["reason"] == "InsufficientGPU" and second[0]["observedGeneration"] == 2
    third = st.merge_conditions(
        second, [Cond.true(st.SCHEDULED, Reason.POD_SCHEDULED, "m3")], 2, now="2026-01-01T00:09:00Z"
    )
    assert third[0]["lastTransitionTime"] == "2026-01-01T00:09:00Z"


def test_conditions_sorted_and_foreign_ones_kept() -> None:
    old = [{"type": "Custom", "status": "True", "reason": "X", "message": "", "lastTransitionTime": "t"}]
    merged = st.merge_conditions(
        old,
        [Cond.true(st.SCHEDULED, Reason.POD_SCHEDULED, ""), Cond.true(st.READY, Reason.RECONCILED, "")],
        1,
    )
    assert [c["type"] for c in merged] == ["Ready", "Scheduled", "Custom"]


def test_ready_summary() -> None:
    ok = [Cond.true(t, Reason.NOT_CHECKED, "") for t in REQUIRED_FOR_READY]
    unknown_chain = [Cond.unknown(st.REGISTERED, Reason.NOT_CHECKED, "")]
    assert st.summarize_ready(ok + unknown_chain).status == "True"
    failing = [*ok[:1], Cond.false(st.SCHEDULED, Reason.NO_FITTING_NODE, "0 of 3 nodes fit"), ok[2]]
    ready = st.summarize_ready(failing)
    assert (ready.status, ready.reason) == ("False", Reason.NO_FITTING_NODE)
    assert "0 of 3 nodes fit" in ready.message
    chain_false = st.summarize_ready([*ok, Cond.false(st.WALLET_FUNDED, Reason.TREASURY_INSUFFICIENT, "low")])
    assert (chain_false.status, chain_false.reason) == ("False", Reason.TREASURY_INSUFFICIENT)
    assert st.summarize_ready(ok, paused=True).reason == Reason.PAUSED


def test_status_diff() -> None:
    old = {"nodeName": "a", "podIP": "1", "conditions": [1]}
    assert st.status_diff(old, {"nodeName": "a", "conditions": [1]}) == {}
    assert st.status_diff(old, {"nodeName": "b", "podIP": None}) == {"nodeName": "b", "podIP": None}
    assert st.status_diff(old, {"walletAddress": None}) == {}
    assert st.status_diff(None, {"nodeName": "a"}) == {"nodeName": "a"}
