"""Invokes that never completed, closed as ``info`` so a checker can take them.

Knossos and Jepsen treat an invoke with no completion as indeterminate: the
history ended (or the client was cut off) while the op was in flight, so it
may or may not have taken effect, which is exactly what ``info`` means. The
reader accepts such invokes (docs/history-format.md); the checker wants every
op paired, so ``harness check`` appends one ``info`` completion per open
invoke, at the end of the history, before checking. The file is not changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.history.ops import Op, OpType
from harness.history.validate import NEMESIS_PROCESS


def open_invokes(ops: Sequence[Op]) -> list[Op]:
    """The client invokes of ``ops`` that no later op of their process completes, in order."""
    pending: dict[int | str, Op] = {}
    for op in ops:
        if op.process == NEMESIS_PROCESS:
            continue
        if op.type is OpType.INVOKE:
            pending[op.process] = op
        else:
            pending.pop(op.process, None)
    return sorted(pending.values(), key=lambda op: op.index)


def close_open_invokes(ops: Sequence[Op], *, error: str = "never completed") -> list[Op]:
    """``ops`` plus an ``info`` completion (time = the last time seen) per open invoke."""
    stray = open_invokes(ops)
    if not stray:
        return list(ops)
    end = max(op.time for op in ops)
    next_index = max(op.index for op in ops) + 1
    closing = [
        Op(
            index=next_index + offset,
            time=end,
            process=invoke.process,
            type=OpType.INFO,
            f=invoke.f,
            value=invoke.value,
            key=invoke.key,
            error=error,
        )
        for offset, invoke in enumerate(stray)
    ]
    return [*ops, *closing]
