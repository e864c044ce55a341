"""Issue 3's property test, literally: histories of a simulated atomic register are always
valid, and the same history with ONE read changed to a value that no concurrent or
preceding write could have produced is always invalid.

tests/check/test_linearizable.py has the planted *stale* read (a value overwritten before
the read began), which skips histories without such a triple. This file plants the other
impossible kinds and never skips: every drawn history gets a corrupted read, chosen among
  * a value never written anywhere (the checker may prove this from values alone),
  * a value written on another key (every value is unique, so it never reaches this key),
  * a value on this key written only by writes invoked after the read returned (the
    search has to see that the write comes too late).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.check.wgl_histories import simulate_register
from harness.history.ops import Op, OpType

KINDS = ("never-written", "other-key", "written-later")


def _calls(ops: list[Op]) -> list[tuple[int, Op, int, Op]]:
    """(invoke position, invoke, completion position, completion) for completed calls."""
    opened: dict[Any, tuple[int, Op]] = {}
    calls = []
    for position, op in enumerate(ops):
        if op.type is OpType.INVOKE:
            opened[op.process] = (position, op)
        elif op.process in opened:
            start, invoke = opened.pop(op.process)
            calls.append((start, invoke, position, op))
    return calls


def _produced(invoke: Op) -> Any:
    if invoke.f == "write":
        return invoke.value
    if invoke.f == "cas" and isinstance(invoke.value, list | tuple):
        return invoke.value[1]
    return None


def corrupt_one_read(rng: random.Random, ops: list[Op], kind: str) -> tuple[list[Op], str] | None:
    """``ops`` with one ok read's value replaced by an impossible one of ``kind``; None when
    the history has no ok read or no candidate value of that kind."""
    calls = _calls(ops)
    reads = [c for c in calls if c[1].f == "read" and c[3].type is OpType.OK]
    if not reads:
        return None
    _, invoke, end, completion = rng.choice(reads)
    # Every write and cas, crashed ones included, by the position of its invoke.
    writes = [
        (p, op)
        for p, op in enumerate(ops)
        if op.type is OpType.INVOKE and _produced(op) is not None
    ]
    same_key_earlier = {_produced(op) for p, op in writes if op.key == invoke.key and p < end}
    if kind == "never-written":
        value = 10**9
    elif kind == "other-key":
        candidates = sorted({_produced(op) for _, op in writes if op.key != invoke.key})
        if not candidates:
            return None
        value = rng.choice(candidates)
    else:
        later = {_produced(op) for p, op in writes if op.key == invoke.key and p > end}
        candidates = sorted(later - same_key_earlier)
        if not candidates:
            return None
        value = rng.choice(candidates)
    assert value not in same_key_earlier
    index = ops.index(completion)
    corrupted = list(ops)
    corrupted[index] = dataclasses.replace(completion, value=value)
    return corrupted, f"{kind}: read op {completion.index} -> {value}"


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=1, max_value=10),
    keys=st.integers(min_value=1, max_value=3),
    info=st.sampled_from([0.0, 0.05, 0.3]),
    cas=st.sampled_from([0.0, 0.3]),
)
def test_atomic_history_is_valid_and_one_impossible_read_makes_it_invalid(
    seed: int, clients: int, keys: int, info: float, cas: float
) -> None:
    rng = random.Random(seed)
    ops = simulate_register(
        rng, ops=120, clients=clients, keys=keys, info_fraction=info, cas_fraction=cas
    )
    assert check_linearizable(ops, "cas-register", timeout_s=20).verdict is Verdict.OK, seed
    planted = 0
    for kind in KINDS:
        corrupted = corrupt_one_read(rng, ops, kind)
        if corrupted is None:
            continue
        history, what = corrupted
        result = check_linearizable(history, "cas-register", timeout_s=20)
        assert result.verdict is Verdict.ILLEGAL, (seed, what, result.reasons)
        assert result.counterexamples and result.counterexamples[0].window, what
        planted += 1
    assert planted >= 1, "never-written is always possible when the history has an ok read"


def test_a_history_without_reads_is_not_counted_as_checked() -> None:
    """The corrupter refuses rather than pretending (so the property test cannot pass vacuously)."""
    ops = simulate_register(random.Random(1), ops=20, clients=2, read_fraction=0.0)
    assert corrupt_one_read(random.Random(1), ops, "never-written") is None
