"""Turn a history into the calls the WGL search works on, and shrink it soundly.

Theory of operation: the search (harness/check/wgl.py) sees *calls*: an
invoke paired with its completion, placed on the history's own event order
(Jepsen and knossos order events by their position in the history, not by
clock readings). A call's window is [call_pos, ret_pos]; an info call never
returns, so its ret_pos is infinity.

Rules applied here, each justified in docs/checker.md:
1. A ``fail`` op did not happen: dropped.
2. An info op that cannot change the state (a read) is dropped: placing it
   or leaving it out makes no difference to any other op.
3. An ok op that is legal in every state and changes nothing (knossos's read
   of None) is dropped.
4. Register-like models: an info write/cas whose new value nobody observes
   (no read of it, no cas expecting it) is dropped: if a linearization places
   it, the interval until the next write holds no op that reads the value, so
   removing it leaves a linearization.
5. Register-like models: an info write/cas whose new value v is observed by an
   op that surely happened (ok, or converted by this rule), is the only
   producer of v, and v is not the initial value, *must* have happened before
   the earliest such observer of v took effect. It becomes
   a call that returns just before that observer returns. This removes the
   "open until the end of time" window that makes crashed ops explode WGL.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.history.ops import Op, OpType
from spec.models.base import NO_VALUE, Model

NEMESIS_PROCESS = "nemesis"


@dataclass(slots=True, kw_only=True)
class Call:
    """One operation as the search sees it."""

    invoke: Op
    completion: Op | None  # None: info, the outcome is unknown
    call_pos: float
    ret_pos: float  # math.inf for info calls
    observed: Any = NO_VALUE
    produced: Any = NO_VALUE

    @property
    def is_ok(self) -> bool:
        return self.completion is not None

    @property
    def crashed(self) -> bool:
        return self.completion is None


@dataclass(slots=True, kw_only=True)
class Paired:
    """All calls of a history plus the counts a CheckResult reports."""

    calls: list[Call]
    counts: dict[str, int]
    info_completions: dict[int, Op]  # invoke index -> the info completion, for display


def pair_history(ops: Sequence[Op]) -> Paired:
    """Pair each invoke with its process's next completion.

    Raises:
        ValueError: a completion without an open invoke, a second invoke while
            the process has one open, a completion whose f differs from its
            invoke, or an invoke that never completes (record it as info).
    """
    open_by_process: dict[Hashable, tuple[int, Op]] = {}
    calls: list[Call] = []
    counts = Counter({"ops": 0, "ok": 0, "fail": 0, "info": 0})
    info_completions: dict[int, Op] = {}
    for position, op in enumerate(ops):
        if op.process == NEMESIS_PROCESS:
            continue
        if op.type is OpType.INVOKE:
            if op.process in open_by_process:
                raise ValueError(
                    f"op {op.index}: process {op.process!r} invoked {op.f!r} while its op "
                    f"{open_by_process[op.process][1].index} is still open"
                )
            open_by_process[op.process] = (position, op)
            continue
        if op.process not in open_by_process:
            raise ValueError(
                f"op {op.index}: {op.type.value} completion of {op.f!r} by process "
                f"{op.process!r} has no open invoke"
            )
        call_pos, invoke = open_by_process.pop(op.process)
        if invoke.f != op.f:
            raise ValueError(
                f"op {op.index}: completion f={op.f!r} does not match invoke {invoke.index} "
                f"f={invoke.f!r}"
            )
        counts["ops"] += 1
        counts[op.type.value] += 1
        if op.type is OpType.FAIL:
            continue
        if op.type is OpType.INFO:
            info_completions[invoke.index] = op
            calls.append(Call(invoke=invoke, completion=None, call_pos=call_pos, ret_pos=math.inf))
        else:
            calls.append(Call(invoke=invoke, completion=op, call_pos=call_pos, ret_pos=position))
    if open_by_process:
        stray = sorted(invoke.index for _, invoke in open_by_process.values())
        raise ValueError(
            f"invokes {stray[:10]} never complete; a history must end every op with ok, fail "
            f"or info (an op whose outcome is unknown is recorded as info)"
        )
    return Paired(calls=calls, counts=dict(counts), info_completions=info_completions)


def split_partitions(model: Model, calls: Sequence[Call]) -> dict[Hashable, list[Call]]:
    """P-compositionality: group calls by the object they touch."""
    parts: dict[Hashable, list[Call]] = {}
    for call in calls:
        parts.setdefault(model.partition_key(call.invoke), []).append(call)
    return parts


def shrink(model: Model, calls: Sequence[Call]) -> list[Call]:
    """Apply rules 2-5 of the module docstring; the result has the same verdict.

    Raises:
        ValueError: an op's ``f`` is not one the model knows.
    """
    kept: list[Call] = []
    known = model.operations
    for call in calls:
        if call.invoke.f not in known:
            raise ValueError(
                f"op {call.invoke.index}: f={call.invoke.f!r} is not an operation of the "
                f"{model.name} model (expected one of {sorted(known)})"
            )
        if call.crashed and model.is_read_only(call.invoke):
            continue
        if call.completion is not None and model.always_legal(call.invoke, call.completion):
            continue
        if model.value_based:
            call.observed = model.observed_value(call.invoke, call.completion)
            call.produced = model.produced_value(call.invoke, call.completion)
        kept.append(call)
    if not model.value_based:
        return kept
    return _shrink_crashed_writes(model, kept)


def _shrink_crashed_writes(model: Model, calls: list[Call]) -> list[Call]:
    kept = list(calls)
    while True:  # dropping a crashed cas can leave the crashed write it expected unobserved
        any_observers = Counter(c.observed for c in kept if c.observed is not NO_VALUE)
        before = len(kept)
        kept = [c for c in kept if not (c.crashed and c.produced not in any_observers)]
        if len(kept) == before:
            break
    producers = Counter(c.produced for c in kept if c.produced is not NO_VALUE)
    initial = model.init()
    # Converting one crashed call can make it the first sure observer of another
    # crashed call's value (a crashed write read only by a crashed cas), so repeat.
    changed = True
    while changed:
        changed = False
        first_observer_return: dict[Any, float] = {}
        for c in kept:
            if c.ret_pos != math.inf and c.observed is not NO_VALUE:
                old = first_observer_return.get(c.observed, math.inf)
                first_observer_return[c.observed] = min(old, c.ret_pos)
        for c in kept:
            if c.ret_pos != math.inf or producers[c.produced] != 1 or c.produced == initial:
                continue
            bound = first_observer_return.get(c.produced, math.inf)
            if c.call_pos < bound - 0.5 < math.inf:
                c.ret_pos = bound - 0.5
                changed = True
    return kept
