"""The three-way verdict every checker returns; never a silent pass (STYLE.md §5)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from harness.history.ops import Op


class Verdict(enum.Enum):
    OK = "valid"
    ILLEGAL = "invalid"
    UNKNOWN = "unknown"

    @property
    def exit_code(self) -> int:
        return {Verdict.OK: 0, Verdict.ILLEGAL: 1, Verdict.UNKNOWN: 2}[self]


@dataclass(slots=True, kw_only=True)
class Counterexample:
    """Why a history is not linearizable, in terms a person can follow.

    ``window`` is the smallest set of ops around the point where no
    linearization could be extended; ``linearized`` is the longest partial
    linearization found (ops in the order they took effect, each with the
    model state after it, as text); ``stuck`` are the ops none of which could
    be placed next. ``blocked`` is the op whose return was reached before it
    could take effect, the one to look at first (the checker's explanation is
    about it); None when the checker did not single one out. Renderers mark it
    like the stuck ops, so a value-only proof (no search, no stuck list) still
    highlights the op that cannot be placed.
    """

    key: Any
    window: list[tuple[Op, Op | None]]  # (invoke, completion or None if it never completed)
    linearized: list[tuple[Op, str]]  # (invoke of the op, describe_state after it)
    stuck: list[Op]  # invokes of the ops that could not be placed
    explanation: str
    blocked: Op | None = None  # invoke of the op that cannot take effect, when known


@dataclass(slots=True, kw_only=True)
class CheckResult:
    checker: str  # "linearizable" | "total-queue" | ...
    model: str
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    counterexamples: list[Counterexample] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    peak_memory_bytes: int = 0
