"""Quick refutations for register-like models: stale and future reads in O(n log n).

Theory of operation: real-time order alone can prove an observer R of a
value v (an ok read of v, or an ok cas expecting v) illegal, without
searching. Let P be the producers of v (writes of v, cas [u, v], crashed
ones included) invoked before R returned: only they can be linearized before
R. If every one of them has a finite window, the value R sees was in place
by the time the last of them returned (or it is the initial value):
- stale: some call W2 that surely happened (finite window) was invoked after
  every call in P returned and returned before R was invoked. Every
  linearization orders P < W2 < R, and W2 produces another value (a producer
  of v invoked that late would be in P), so R cannot see v.
- future: P is empty and v is not the initial value.
- initial: v is the initial value, P is empty, and some sure producer
  returned before R was invoked.
With unique values P is the single write of v; with repeated values (knossos's
0..4) it is every write of v that could precede R. The WGL search would find
the same violation, but only after exhausting every configuration before R,
which with 50 concurrent clients costs millions of steps. A refutation is
only ever a proof of ILLEGAL; finding none says nothing.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.check.wgl_prepare import Call
from spec.models.base import NO_VALUE, Model


@dataclass(frozen=True, slots=True, kw_only=True)
class Refutation:
    reader: Call
    writer: Call | None  # the only producer of the value read (None: the initial value)
    overwriter: Call | None  # the sure write between them (None for a future read)
    explanation: str


def refute(model: Model, calls: Sequence[Call]) -> Refutation | None:
    """Return a proof that ``calls`` are not linearizable, or None if none is found."""
    if not model.value_based:
        return None
    producers_of: dict[Any, list[Call]] = defaultdict(list)
    sure_producers: list[Call] = []
    for call in calls:
        if call.produced is not NO_VALUE:
            producers_of[call.produced].append(call)
            if call.ret_pos != math.inf:
                sure_producers.append(call)
    sure_producers.sort(key=lambda c: c.call_pos)
    starts = [c.call_pos for c in sure_producers]
    earliest_return_from = _suffix_min_returns(sure_producers)
    latest = {value: _prefix_max_returns(found) for value, found in producers_of.items()}
    initial = model.init()
    for reader in calls:
        if reader.ret_pos == math.inf or reader.observed is NO_VALUE:
            continue
        invoked, last_done = latest.get(reader.observed, ([], []))
        count = bisect.bisect_left(invoked, reader.ret_pos)  # producers invoked before R returned
        if count == 0 and reader.observed != initial:
            writer = producers_of[reader.observed][0] if reader.observed in producers_of else None
            return _make(model, reader, writer, None, "future", 0)
        # The state R sees was produced by one of those, or is the initial value: either
        # way it was in place by the time the last of them returned.
        done_by, writer = last_done[count - 1] if count else (-math.inf, None)
        if done_by == math.inf:
            continue  # a crashed producer may take effect at any time
        after = bisect.bisect_right(starts, done_by)
        if after < len(sure_producers) and earliest_return_from[after][0] < reader.call_pos:
            kind = "initial" if writer is None else "stale"
            return _make(model, reader, writer, earliest_return_from[after][1], kind, count)
    return None


def _prefix_max_returns(producers: list[Call]) -> tuple[list[float], list[tuple[float, Call]]]:
    """Producers by invocation, and for each prefix the one that returns last."""
    producers = sorted(producers, key=lambda c: c.call_pos)
    best: list[tuple[float, Call]] = []
    running: tuple[float, Call] | None = None
    for call in producers:
        if running is None or call.ret_pos > running[0]:
            running = (call.ret_pos, call)
        best.append(running)
    return [c.call_pos for c in producers], best


def _suffix_min_returns(producers: list[Call]) -> list[tuple[float, Call]]:
    """For each i, the producer with the earliest return among producers[i:]."""
    best: list[tuple[float, Call]] = [(math.inf, None)] * len(producers)  # type: ignore[list-item]
    running: tuple[float, Call] = (math.inf, None)  # type: ignore[assignment]
    for i in range(len(producers) - 1, -1, -1):
        if producers[i].ret_pos < running[0]:
            running = (producers[i].ret_pos, producers[i])
        best[i] = running
    return best


def _name(model: Model, call: Call) -> str:
    what = model.describe_op(call.invoke, call.completion)
    return f"{what} (op {call.invoke.index}, process {call.invoke.process!r})"


def _make(
    model: Model,
    reader: Call,
    writer: Call | None,
    overwriter: Call | None,
    kind: str,
    producers: int,
) -> Refutation:
    value = reader.observed
    if kind == "future":
        if writer is None:
            text = f"{_name(model, reader)} observed {value!r}, which nothing writes."
        else:
            text = (
                f"{_name(model, reader)} observed {value!r}, but every write of {value!r} "
                f"(the first: {_name(model, writer)}) was invoked after it completed: a read "
                f"from the future."
            )
    elif kind == "initial":
        text = (
            f"{_name(model, reader)} observed the initial value {value!r}, but "
            f"{_name(model, overwriter)} had already completed before it was invoked, and "  # type: ignore[arg-type]
            f"nothing that writes {value!r} could come in between: a stale read."
        )
    elif producers == 1:
        text = (
            f"{_name(model, reader)} observed {value!r}, but the only write of {value!r} "
            f"that could precede it, {_name(model, writer)}, completed before "  # type: ignore[arg-type]
            f"{_name(model, overwriter)} was invoked, and that completed before the read "  # type: ignore[arg-type]
            f"was invoked: a stale read."
        )
    else:
        text = (
            f"{_name(model, reader)} observed {value!r}, but all {producers} writes of "
            f"{value!r} invoked before it completed had completed (the last, "
            f"{_name(model, writer)}) before {_name(model, overwriter)} was invoked, and "  # type: ignore[arg-type]
            f"that completed before the read was invoked: a stale read."
        )
    return Refutation(reader=reader, writer=writer, overwriter=overwriter, explanation=text)
