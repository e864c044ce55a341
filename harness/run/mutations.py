"""Deliberate corruption of a recorded history, to prove that the checker can say no.

A green run is only evidence if the same pipeline turns red on a bad
history. ``plant_stale_read`` rewrites one ok read so that it returns a value
that had certainly been overwritten before the read began; no linearization
can explain it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.history.ops import Op
from harness.report.results_json import pair_ops
from harness.run.audit import written_value


def plant_stale_read(ops: Sequence[Op]) -> tuple[list[Op], str] | None:
    """Return (mutated ops, description), or None when the history has no suitable read.

    Chooses an ok read r of value v on key k with two ok writes of k, u then v,
    such that u completed before v was invoked and v completed before r was
    invoked, then makes r return u.
    """
    pairs = pair_ops(ops)
    writes = [p for p in pairs if p.invoke.f in {"write", "cas"} and p.outcome == "ok"]
    for read in (p for p in pairs if p.invoke.f == "read" and p.outcome == "ok"):
        assert read.completion is not None
        newer = next(
            (
                w
                for w in writes
                if w.invoke.key == read.invoke.key and written_value(w) == read.completion.value
            ),
            None,
        )
        if newer is None or newer.completion is None or newer.completion.time >= read.invoke.time:
            continue
        older = [
            w
            for w in writes
            if w.invoke.key == read.invoke.key
            and w.completion is not None
            and w.completion.time < newer.invoke.time
        ]
        if not older:
            continue
        stale = written_value(older[-1])
        mutated = [
            dataclasses.replace(op, value=stale) if op.index == read.completion.index else op
            for op in ops
        ]
        description = (
            f"read of {read.invoke.key} (op {read.completion.index}) changed from "
            f"{read.completion.value!r} to the overwritten {stale!r}"
        )
        return mutated, description
    return None
