"""A small, bounded linearizability checker for simulator histories (fallback only).

Theory of operation: the simulator uses ``harness.check.linearizable`` when
it is importable; this module is the stand-in while it is not, and a second
opinion in tests. Per key (a KV history is P-compositional, Herlihy & Wing
§3.4), it searches for a linearization the way Wing & Gong do: an operation
may be placed next iff it was invoked before the earliest completion among
the operations not yet placed; ``ok`` ops must all be placed, ``info`` ops
may be placed (any time after their invocation) or dropped, ``fail`` ops are
dropped. Visited (placed set, register value) pairs are memoized. The search
is bounded: when the budget runs out the verdict is UNKNOWN, never OK.

The model is a compare-and-set register per key, starting empty (None):
read returns the value, write sets it, cas [expected, new] sets ``new`` iff
the value equals ``expected``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.check.verdict import CheckResult, Counterexample, Verdict
from harness.history.ops import Op, OpType

_INFINITY = float("inf")


@dataclass(frozen=True, slots=True)
class _Call:
    invoke: Op
    completion: Op | None
    call: int
    ret: float
    required: bool  # an ok op must be linearized; an info op may be
    f: str
    value: Any


def _pair(ops: list[Op]) -> dict[Any, list[_Call]]:
    open_by_process: dict[Any, Op] = {}
    calls: dict[Any, list[_Call]] = defaultdict(list)
    for op in ops:
        if op.type is OpType.INVOKE:
            open_by_process[op.process] = op
            continue
        invoke = open_by_process.pop(op.process, None)
        if invoke is None or op.type is OpType.FAIL:
            continue
        ok = op.type is OpType.OK
        value = op.value if ok else invoke.value
        calls[invoke.key].append(
            _Call(invoke, op, invoke.time, op.time if ok else _INFINITY, ok, invoke.f, value)
        )
    for invoke in open_by_process.values():
        calls[invoke.key].append(
            _Call(invoke, None, invoke.time, _INFINITY, False, invoke.f, invoke.value)
        )
    return calls


def _step(state: Any, call: _Call) -> tuple[bool, Any]:
    if call.f == "read":
        return (not call.required or call.value == state), state
    if call.f == "write":
        return True, call.value
    if call.f == "cas":
        expected, new = call.value
        if state != expected:
            return (not call.required), state  # an info cas that did not match changed nothing
        return True, new
    return False, state


def _check_key(calls: list[_Call], budget: list[int]) -> tuple[Verdict, list[_Call]]:
    calls = sorted(calls, key=lambda c: c.call)
    required_mask = sum(1 << i for i, c in enumerate(calls) if c.required)
    seen: set[tuple[int, Any]] = set()
    best: list[_Call] = []
    stack: list[tuple[int, Any, list[_Call]]] = [(0, None, [])]
    while stack:
        budget[0] -= 1
        if budget[0] < 0:
            return Verdict.UNKNOWN, best
        done, state, order = stack.pop()
        if done & required_mask == required_mask:
            return Verdict.OK, order
        if len(order) > len(best):
            best = order
        horizon = min((c.ret for i, c in enumerate(calls) if not done >> i & 1), default=_INFINITY)
        for i, call in enumerate(calls):
            if done >> i & 1:
                continue
            if call.call > horizon:
                break
            legal, after = _step(state, call)
            key = (done | 1 << i, repr(after))
            if legal and key not in seen:
                seen.add(key)
                stack.append((done | 1 << i, after, [*order, call]))
    return Verdict.ILLEGAL, best


def check_linearizable(
    ops: list[Op], model: str = "kv", timeout_s: float | None = None
) -> CheckResult:
    """Check a KV/cas-register history per key; UNKNOWN when the step budget runs out."""
    started = time.monotonic()
    result = CheckResult(checker="linearizable-bruteforce", model=model, verdict=Verdict.OK)
    budget = [200_000]
    for key, calls in _pair(ops).items():
        verdict, order = _check_key(calls, budget)
        if verdict is Verdict.OK:
            continue
        if verdict is Verdict.UNKNOWN:
            result.verdict = Verdict.UNKNOWN
            result.reasons.append(f"key {key!r}: search budget exhausted")
            break
        result.verdict = Verdict.ILLEGAL
        placed = {id(c) for c in order}
        stuck = [c.invoke for c in calls if id(c) not in placed and c.required]
        result.reasons.append(f"key {key!r}: no linearization places {len(stuck)} ok op(s)")
        result.counterexamples.append(
            Counterexample(
                key=key,
                window=[(c.invoke, c.completion) for c in calls],
                linearized=[(c.invoke, repr(c.value)) for c in order],
                stuck=stuck[:5],
                explanation=f"longest linearization places {len(order)} of {len(calls)} ops",
            )
        )
        break
    result.elapsed_s = time.monotonic() - started
    return result
