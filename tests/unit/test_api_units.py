"""TON amounts, durations and the model string."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from cocoon_operator.api.spec import ModelRef, parse_spec
from cocoon_operator.api.tonaddr import address_problem
from cocoon_operator.api.units import format_duration, nano_to_ton, parse_duration, ton_to_nano
from tests.unit.builders import MODEL, minimal_spec


@pytest.mark.parametrize(
    ("text", "nano"),
    [
        ("0", 0),
        ("2.1", 2_100_000_000),
        ("5", 5_000_000_000),
        ("0.000000001", 1),
        ("1234567890.123456789", 1234567890123456789),
    ],
)
def test_ton_round_trip(text: str, nano: int) -> None:
    assert ton_to_nano(text) == nano
    assert nano_to_ton(nano) == text


@pytest.mark.parametrize("bad", ["", "1e9", "-1", "1.", ".5", "1.0000000001", "01", "1,5", " 1"])
def test_ton_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="TON amount"):
        ton_to_nano(bad)


def test_durations() -> None:
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45
    assert format_duration(5400) == "1h30m"
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_model_ref() -> None:
    ref = ModelRef.parse(MODEL)
    assert ref.name == "Qwen/Qwen3-8B" and len(ref.commit) == 40 and len(ref.verity_hash) == 64
    assert str(ref) == MODEL
    with pytest.raises(ValueError, match="commit must be 40 lower-case hex digits"):
        ModelRef.parse("Qwen/Qwen3-8B@" + "A" * 40 + ":" + "b" * 64)
    with pytest.raises(ValueError, match="not a COCOON model string"):
        ModelRef.parse("bad*name@" + "a" * 40 + ":" + "b" * 64)


def test_spec_defaults_and_amounts() -> None:
    spec = parse_spec(minimal_spec(wallet={"secretRef": {"name": "w"}, "floor": "2.5"}))
    assert spec.wallet.floor == 2_500_000_000 and spec.wallet.target == 5_000_000_000
    assert spec.rewards.min_claim == 100_000_000
    assert spec.rewards.max_fee_fraction == Decimal("0.05")
    assert spec.rewards.check_interval == 300
    assert spec.inference.startup_timeout == 1200
    assert spec.placement.tee == "TDX" and spec.placement.gpu_count == 1
    assert spec.worker_coefficient == 1000
    with pytest.raises(ValidationError):
        spec.paused = True  # type: ignore[misc]  # frozen


def test_spec_error_names_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_spec(minimal_spec(wallet={"secretRef": {"name": "w"}, "target": "lots"}))
    assert info.value.errors()[0]["loc"][:2] == ("wallet", "target")


def test_address_checksum() -> None:
    assert address_problem("UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m") is None
    assert address_problem("0:" + "ab" * 32) is None
    problem = address_problem("UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-n")
    assert problem is not None and "not a valid TON address" in problem
