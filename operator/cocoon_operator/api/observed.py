"""Typed view of CocoonNode status (what the operator observed); follows the CRD's status schema."""

from typing import Any, Literal

from pydantic import Field

from cocoon_operator.api.records import CamelModel

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    """metav1.Condition."""

    type: str
    status: ConditionStatus
    observed_generation: int | None = None
    last_transition_time: str
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str


class WorkerContract(CamelModel):
    proxy_address: str | None = None
    address: str | None = None
    params_version: int | None = None
    state: str | None = None
    tokens: int | str | None = None


class Earnings(CamelModel):
    claimable_nano: int | str | None = None
    claimed_nano: int | str | None = None
    claimable_ton: str | None = None
    claimed_ton: str | None = None
    claimable_tokens: int | str | None = None
    claimed_tokens: int | str | None = None
    payouts: int | None = None
    claimable_since: str | None = None


class Claim(CamelModel):
    time: str | None = None
    proxy_address: str | None = None
    tokens: int | str | None = None
    amount_nano: int | str | None = None
    query_id: int | str | None = None
    tx_hash: str | None = None
    state: str | None = None
    source: str | None = None


class ModelReadiness(CamelModel):
    name: str
    ready: bool | None = None
    reason: str | None = None


class CocoonNodeStatus(CamelModel):
    observed_generation: int | None = None
    conditions: tuple[Condition, ...] = ()
    node_name: str | None = None
    pod_name: str | None = None
    pod_ip: str | None = Field(default=None, alias="podIP")
    model_name: str | None = None
    wallet_address: str | None = None
    runner_wallet_address: str | None = None
    worker_contracts: tuple[WorkerContract, ...] = ()
    earnings: Earnings | None = None
    last_claims: tuple[Claim, ...] = ()
    models: tuple[ModelReadiness, ...] = ()
    claims: dict[str, Any] | None = None  # rewards.ledger.ClaimLedger (camelCase JSON)
    funding: dict[str, Any] | None = None  # balances and the open top-up intent
    sweep: dict[str, Any] | None = None  # ton.sweep.SweepRecord (camelCase JSON)
