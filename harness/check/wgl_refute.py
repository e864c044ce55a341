"""Quick refutations for register-like models: stale and future reads in O(n log n).

Theory of operation: when a value v has exactly one producer W, real-time
order alone can prove an observer R of v (an ok read of v, or an ok cas
expecting v) illegal, without searching:
- stale: some call W2 that surely happened (finite window) produces another
  value, W returned before W2 was invoked and W2 returned before R was
  invoked. Every linearization orders W < W2 < R, so the value R sees was
  overwritten and nothing can produce v again.
- future: R returned before W was invoked, so R precedes the only write of v.
- initial: v is the initial value, nothing produces it, and some sure
  producer returned before R was invoked.
The WGL search would find the same violation, but only after exhausting every
configuration before R, which with 50 concurrent clients costs millions of
steps. A refutation is only ever a proof of ILLEGAL; finding none says nothing.
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
    initial = model.init()
    for reader in calls:
        if reader.ret_pos == math.inf or reader.observed is NO_VALUE:
            continue
        producers = producers_of.get(reader.observed, [])
        if reader.observed == initial:
            if producers or not sure_producers:
                continue
            first = min(sure_producers, key=lambda c: c.ret_pos)
            if first.ret_pos < reader.call_pos:
                return _make(model, reader, None, first, "initial")
            continue
        if len(producers) != 1:
            continue
        writer = producers[0]
        if reader.ret_pos < writer.call_pos:
            return _make(model, reader, writer, None, "future")
        if writer.ret_pos == math.inf:
            continue
        after = bisect.bisect_right(starts, writer.ret_pos)
        if after < len(sure_producers) and earliest_return_from[after][0] < reader.call_pos:
            return _make(model, reader, writer, earliest_return_from[after][1], "stale")
    return None


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
    model: Model, reader: Call, writer: Call | None, overwriter: Call | None, kind: str
) -> Refutation:
    value = reader.observed
    if kind == "future":
        text = (
            f"{_name(model, reader)} observed {value!r}, but the only write of {value!r}, "
            f"{_name(model, writer)}, was invoked after it completed: a read from the future."  # type: ignore[arg-type]
        )
    elif kind == "initial":
        text = (
            f"{_name(model, reader)} observed the initial value {value!r}, but "
            f"{_name(model, overwriter)} had already completed before it was invoked, and "  # type: ignore[arg-type]
            f"nothing writes {value!r} again: a stale read."
        )
    else:
        text = (
            f"{_name(model, reader)} observed {value!r}, but the only write of {value!r}, "
            f"{_name(model, writer)}, completed before {_name(model, overwriter)} was "  # type: ignore[arg-type]
            f"invoked, and that completed before the read was invoked: a stale read."
        )
    return Refutation(reader=reader, writer=writer, overwriter=overwriter, explanation=text)
