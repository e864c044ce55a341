"""Durability audit: did the final reads see every acknowledged write (or a later one)?

The linearizability checker already implies this, but a lost acknowledged
write is the most important failure a crash test can find, so the run states
it directly, in words a person checks by eye: for each key, the final read's
value must come from a write that was not already overwritten, in real time,
by an acknowledged write. Values are unique per write (kv workload), so a
value names its write.

A write ``w`` is *superseded* by an acknowledged write ``a`` when ``w``
completed before ``a`` was invoked. If the final read returns the value of a
superseded write, or nothing at all although some write was acknowledged,
``a``'s effect was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.history.ops import Op, OpType
from harness.report.results_json import Pair, pair_ops

_INFINITY = float("inf")


@dataclass(frozen=True, slots=True, kw_only=True)
class LostWrite:
    key: Any
    acknowledged_value: Any
    final_value: Any

    def __str__(self) -> str:
        return (
            f"key {self.key}: the write of {self.acknowledged_value!r} was acknowledged, "
            f"but the final read returned {self.final_value!r}, which it had overwritten"
        )


def written_value(pair: Pair) -> Any:
    """The value a write or cas pair stores (cas values are ``[expected, new]``)."""
    if pair.invoke.f == "cas":
        return pair.invoke.value[1]
    return pair.invoke.value


def lost_acknowledged_writes(
    ops: Sequence[Op], final_read_indexes: set[int] | None = None
) -> list[LostWrite]:
    """Every acknowledged write whose effect the last ok read of its key does not show.

    ``final_read_indexes`` are the invoke indexes of the final reads; by default
    the last ok read of each key is used.
    """
    pairs = pair_ops(ops)
    writes = [
        pair
        for pair in pairs
        if pair.invoke.f in {"write", "cas"} and pair.outcome in {"ok", "info", "open"}
    ]
    reads = [pair for pair in pairs if pair.invoke.f == "read" and pair.outcome == "ok"]
    if final_read_indexes is not None:
        reads = [pair for pair in reads if pair.invoke.index in final_read_indexes]
    final: dict[Any, Pair] = {}
    for pair in reads:
        final[pair.invoke.key] = pair  # pairs are in invoke order: the last one wins
    lost: list[LostWrite] = []
    for key, read in final.items():
        assert read.completion is not None
        value = read.completion.value
        source = next(
            (w for w in writes if w.invoke.key == key and written_value(w) == value), None
        )
        source_done = (
            _INFINITY if source is None or source.completion is None else source.completion.time
        )
        if (
            source is not None
            and source.completion is not None
            and source.completion.type is not OpType.OK
        ):
            source_done = _INFINITY  # an info write may have taken effect at any later time
        for acked in (w for w in writes if w.invoke.key == key and w.outcome == "ok"):
            if acked is source or acked.invoke.time > read.invoke.time:
                continue
            if value is None or source_done < acked.invoke.time:
                lost.append(
                    LostWrite(key=key, acknowledged_value=written_value(acked), final_value=value)
                )
    return lost
