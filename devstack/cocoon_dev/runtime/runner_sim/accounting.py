"""Token accounting as the official runner does it (cocoon-protocol.md §11, §12)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MULTIPLIER_ONE = 10000  # root multipliers are per 10000
COEFFICIENT_ONE = 1000  # worker coefficient is per-mille


@dataclass(frozen=True)
class Usage:
    prompt: int
    cached: int
    completion: int
    reasoning: int

    @classmethod
    def from_openai(cls, usage: dict[str, Any]) -> Usage:
        """Read an OpenAI `usage` object (reasoning may sit in details or at the top level)."""

        def num(value: Any) -> int:
            return int(value) if isinstance(value, int | float) and value > 0 else 0

        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        reasoning = completion_details.get("reasoning_tokens", usage.get("reasoning_tokens", 0))
        return cls(
            prompt=num(usage.get("prompt_tokens")),
            cached=num(prompt_details.get("cached_tokens")),
            completion=num(usage.get("completion_tokens")),
            reasoning=num(reasoning),
        )


@dataclass(frozen=True)
class Multipliers:
    prompt: int = MULTIPLIER_ONE
    cached: int = MULTIPLIER_ONE
    completion: int = MULTIPLIER_ONE
    reasoning: int = MULTIPLIER_ONE


@dataclass(frozen=True)
class TokensUsed:
    prompt: int
    cached: int
    completion: int
    reasoning: int

    @property
    def total(self) -> int:
        return self.prompt + self.cached + self.completion + self.reasoning


def adj(n: int, multiplier: int, coefficient: int) -> int:
    """floor(n * (coef/1000) * (m/10000)) in double precision, as `adjust_tokens` computes it."""
    return math.floor(float(n) * (coefficient / COEFFICIENT_ONE) * (multiplier / MULTIPLIER_ONE))


def adjust(usage: Usage, mult: Multipliers, coefficient: int) -> TokensUsed:
    cached = min(usage.cached, usage.prompt)
    reasoning = min(usage.reasoning, usage.completion)
    return TokensUsed(
        prompt=adj(usage.prompt - cached, mult.prompt, coefficient),
        cached=adj(cached, mult.cached, coefficient),
        completion=adj(usage.completion - reasoning, mult.completion, coefficient),
        reasoning=adj(reasoning, mult.reasoning, coefficient),
    )


def claimable_tokens(committed_to_blockchain: int, expected_cashed_out: int) -> int:
    """§12: what a payout would move now (the runner's `to_payout()`)."""
    return max(0, committed_to_blockchain - expected_cashed_out)
