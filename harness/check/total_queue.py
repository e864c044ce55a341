"""Jepsen's total-queue check: every acknowledged message comes out, nothing else does.

Theory of operation: linearizability of a FIFO queue is exponential to check
on long histories, but the property users care most about — no acknowledged
message is lost, no message appears from nowhere — only needs multisets
(Jepsen ``jepsen.checker/total-queue``). Order is not checked here: our queue
is at-least-once with redelivery, so order across redeliveries is not a
promise.

Op encoding (the queue workload writes these):
  * ``enqueue``: invoke value is the message; ok means acknowledged.
  * ``dequeue``: ok value is the message received (``None``: queue empty).
  * ``drain``: ok value is a list of messages read at the end of the run.

Multisets, as in Jepsen:
  attempted  = values of enqueue invokes
  acknowledged = values of enqueue oks
  dequeued   = values of dequeue oks + every drained value
  lost       = acknowledged - dequeued - dead_lettered
  unexpected = dequeued values that were never attempted (all their copies)
  duplicated = (dequeued - attempted) - unexpected: came out more often than
               they went in; allowed under at-least-once delivery, reported
  recovered  = (dequeued ∩ attempted) - acknowledged: an info (or failed!)
               enqueue whose message came out, so it did happen
Valid iff nothing is lost and nothing is unexpected.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from harness.check.verdict import CheckResult, Verdict
from harness.history.ops import Op, OpType

EXAMPLES_MAX = 10  # how many values of each category the reasons quote
DETAILS_MAX = 1000  # how many values of each category results.json lists (counts are exact)


def _freeze(value: Any) -> Hashable:
    """Messages may be JSON objects; multisets need hashable values."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    return value


def _multisets(ops: Sequence[Op]) -> tuple[Counter, Counter, Counter, bool]:
    """attempted, acknowledged, dequeued, and whether a drain completed.

    Raises:
        ValueError: a drain's ok value is not a list of messages.
    """
    attempted: Counter = Counter()
    acknowledged: Counter = Counter()
    dequeued: Counter = Counter()
    drained = False
    for op in ops:
        if op.f == "enqueue" and op.type is OpType.INVOKE:
            attempted[_freeze(op.value)] += 1
        elif op.f == "enqueue" and op.type is OpType.OK:
            acknowledged[_freeze(op.value)] += 1
        elif op.f == "dequeue" and op.type is OpType.OK and op.value is not None:
            dequeued[_freeze(op.value)] += 1
        elif op.f == "drain" and op.type is OpType.OK:
            if op.value is not None and not isinstance(op.value, list | tuple):
                raise ValueError(
                    f"op {op.index}: a drain's ok value must be the list of messages read, "
                    f"got {op.value!r}"
                )
            drained = True
            for value in op.value or ():
                dequeued[_freeze(value)] += 1
    return attempted, acknowledged, dequeued, drained


def _examples(counter: Counter) -> str:
    values = sorted(counter, key=repr)[:EXAMPLES_MAX]
    shown = ", ".join(
        f"{value!r}" + (f" x{counter[value]}" if counter[value] > 1 else "") for value in values
    )
    return shown + (", ..." if len(counter) > EXAMPLES_MAX else "")


def check_total_queue(ops: Sequence[Op], *, dead_lettered: Iterable[Any] = ()) -> CheckResult:
    """Classify every message of a queue history (see the module docstring).

    Args:
        ops: the history; only enqueue / dequeue / drain ops are looked at.
        dead_lettered: messages found in the dead-letter queue at the end;
            they count as delivered for "lost" (the queue gave up on them on
            purpose, after max deliveries) and are reported.

    Returns:
        ``Verdict.OK`` when nothing is lost or unexpected, else
        ``Verdict.ILLEGAL`` with one reason per non-empty bad category;
        ``Verdict.UNKNOWN`` when the history has no enqueue and no dequeue at
        all (nothing was checked: a wrong file or workload must not pass).
        ``counts`` holds the size of every multiset; ``details`` the values.

    Raises:
        ValueError: a drain's ok value is not a list.
    """
    started = time.monotonic()
    attempted, acknowledged, dequeued, drained = _multisets(ops)
    dead = Counter(_freeze(value) for value in dead_lettered)
    lost = acknowledged - dequeued - dead
    unexpected = Counter({v: n for v, n in (dequeued + dead).items() if v not in attempted})
    duplicated = (dequeued - attempted) - unexpected
    recovered = (dequeued & attempted) - acknowledged
    categories = {
        "attempted": attempted,
        "acknowledged": acknowledged,
        "dequeued": dequeued,
        "lost": lost,
        "unexpected": unexpected,
        "duplicated": duplicated,
        "recovered": recovered,
        "dead-lettered": dead,
    }
    counts = {name: sum(counter.values()) for name, counter in categories.items()}
    reasons = []
    if lost:
        reasons.append(
            f"{counts['lost']} acknowledged message(s) never dequeued nor dead-lettered: "
            + _examples(lost)
        )
        if not drained:
            reasons.append(
                "the history has no completed drain: messages still in the queue at the end "
                "count as lost (Jepsen's total-queue expects a final drain)"
            )
    if unexpected:
        reasons.append(
            f"{counts['unexpected']} dequeued message(s) that no enqueue attempted: "
            + _examples(unexpected)
        )
    if duplicated:
        reasons.append(
            f"{counts['duplicated']} extra deliveries (allowed: at-least-once): "
            + _examples(duplicated)
        )
    if recovered:
        reasons.append(
            f"{counts['recovered']} message(s) of unacknowledged enqueues came out: "
            + _examples(recovered)
        )
    verdict = Verdict.ILLEGAL if lost or unexpected else Verdict.OK
    if not attempted and not dequeued and not dead:
        verdict = Verdict.UNKNOWN
        reasons.append(
            "no enqueue, dequeue or drain op in the history: nothing was checked "
            "(is this a queue history?)"
        )
    return CheckResult(
        checker="total-queue",
        model="total-queue",
        verdict=verdict,
        reasons=reasons,
        counts=counts,
        details={
            name: _listed(categories[name])
            for name in ("lost", "unexpected", "duplicated", "recovered", "dead-lettered")
        },
        elapsed_s=time.monotonic() - started,
    )


def _listed(counter: Counter) -> list[Any]:
    """The multiset as a sorted list with repeats, at most ``DETAILS_MAX`` long."""
    values = []
    for value, count in sorted(counter.items(), key=lambda item: repr(item[0])):
        values.extend([_jsonable(value)] * count)
        if len(values) >= DETAILS_MAX:
            return values[:DETAILS_MAX]
    return values


def _jsonable(value: Hashable) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    return value
