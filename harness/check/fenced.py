"""The fenced-append check: no acknowledged append is lost, and tokens only go up.

Theory of operation: in the fenced workload a process takes a lock, reads a
key's list, appends one unique element tagged with its fencing token, writes
the list back and releases. This is Jepsen's set-full idea applied to a
read-modify-write protected by a lock: the final read of each key must
contain every acknowledged element. A process that acts on a lock it lost
(its lease ran out during a pause) writes back a list read before another
holder's append, and that append vanishes; fencing (impl/fenced) refuses such
a write. Without fencing the check must find the loss: that is the point.

Op encoding (harness/workloads/fenced.py):
    append  key k, invoke value e (unique); ok value {"element": e, "token": t}
    read    key k, ok value [[token, element], ...] (the final reads)

Properties, each a reason for ``invalid``:
  * lost:        an acknowledged element missing from its key's final read;
  * unexpected:  an element in a final read that no append ever attempted;
  * duplicated:  an element twice in one final read;
  * token order: two acknowledged appends to one key, the first completed
    before the second was invoked, whose tokens do not increase (the lock
    handed out a token that went backwards, or a stale holder got through);
    and the final list's tokens are non-decreasing (accepted tokens never
    decrease per key).
``unknown`` when a key with acknowledged appends has no ok final read.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.check.verdict import CheckResult, Verdict
from harness.history.ops import Op, OpType

EXAMPLES_MAX = 10


def _acknowledged(ops: Sequence[Op]) -> tuple[dict[Any, dict[Any, tuple[int, int, int]]], set[Any]]:
    """Per key: element -> (token, invoke time, completion time) of ok appends; all attempted elements."""
    invokes: dict[Any, Op] = {}
    acknowledged: dict[Any, dict[Any, tuple[int, int, int]]] = {}
    attempted: set[Any] = set()
    for op in ops:
        if op.f != "append":
            continue
        if op.type is OpType.INVOKE:
            invokes[op.process] = op
            attempted.add(op.value)
        elif op.type is OpType.OK and isinstance(op.value, dict):
            invoke = invokes.pop(op.process, None)
            started = invoke.time if invoke is not None else op.time
            acknowledged.setdefault(op.key, {})[op.value["element"]] = (
                op.value["token"],
                started,
                op.time,
            )
        else:
            invokes.pop(op.process, None)
    return acknowledged, attempted


def _final_reads(ops: Sequence[Op]) -> dict[Any, list[Any]]:
    """The last ok read of each key (a list of [token, element] pairs)."""
    final: dict[Any, list[Any]] = {}
    for op in ops:
        if op.f == "read" and op.type is OpType.OK:
            final[op.key] = list(op.value or [])
    return final


def _token_order_violations(acked: dict[Any, tuple[int, int, int]]) -> list[str]:
    """Real-time order must be token order: completed-before-invoked implies a smaller token."""
    by_completion = sorted(acked.items(), key=lambda item: item[1][2])
    violations = []
    highest_completed: tuple[int, Any, int] | None = None  # (token, element, completion time)
    for element, (token, started, _) in sorted(acked.items(), key=lambda item: item[1][1]):
        while by_completion and by_completion[0][1][2] < started:
            done_element, (done_token, _, done_at) = by_completion.pop(0)
            if highest_completed is None or done_token > highest_completed[0]:
                highest_completed = (done_token, done_element, done_at)
        if highest_completed is not None and token <= highest_completed[0]:
            violations.append(
                f"append {element!r} got token {token} after append {highest_completed[1]!r}"
                f" with token {highest_completed[0]} had completed"
            )
    return violations


def check_fenced(ops: Sequence[Op]) -> CheckResult:
    started = time.monotonic()
    acknowledged, attempted = _acknowledged(ops)
    final = _final_reads(ops)
    reasons: list[str] = []
    counts = Counter(
        attempted=len(attempted), acknowledged=sum(len(v) for v in acknowledged.values())
    )
    details: dict[str, Any] = {"lost": {}, "unexpected": {}, "duplicated": {}}
    unread = sorted(str(key) for key in acknowledged if key not in final)
    for key, entries in sorted(final.items(), key=lambda item: str(item[0])):
        elements = [entry[1] for entry in entries]
        tokens = [entry[0] for entry in entries]
        acked: dict[Any, tuple[int, int, int]] = acknowledged.get(key, {})
        lost = sorted(set(acked) - set(elements))
        unexpected = sorted({e for e in elements if e not in attempted}, key=repr)
        duplicated = sorted({e for e, n in Counter(elements).items() if n > 1}, key=repr)
        recovered = {e for e in elements if e in attempted and e not in acked}
        counts.update(lost=len(lost), unexpected=len(unexpected), duplicated=len(duplicated))
        counts.update(recovered=len(recovered), read=len(elements))
        for name, found in (("lost", lost), ("unexpected", unexpected), ("duplicated", duplicated)):
            if found:
                details[name][str(key)] = found
                reasons.append(
                    f"key {key}: {len(found)} {name} element(s), e.g. {found[:EXAMPLES_MAX]}"
                )
        drops = [(a, b) for a, b in itertools.pairwise(tokens) if b < a]
        if drops:
            reasons.append(
                f"key {key}: accepted tokens decrease in the final value, e.g. {drops[0]}"
            )
    for key, acked in sorted(acknowledged.items(), key=lambda item: str(item[0])):
        order = _token_order_violations(acked)
        counts.update(token_order=len(order))
        reasons += [f"key {key}: {text}" for text in order[:EXAMPLES_MAX]]
    if reasons:
        verdict = Verdict.ILLEGAL
    elif unread:
        verdict = Verdict.UNKNOWN
        reasons.append(f"no final read of key(s) {unread}: acknowledged appends cannot be verified")
    else:
        verdict = Verdict.OK
    return CheckResult(
        checker="fenced",
        model="fenced-append",
        verdict=verdict,
        reasons=reasons,
        counts=dict(counts),
        details=details,
        elapsed_s=time.monotonic() - started,
    )
