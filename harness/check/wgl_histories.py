"""Synthetic register histories with known verdicts, for tests and the benchmark.

Theory of operation: ``simulate_register`` runs clients against an atomic
register. Every op takes effect at one random instant inside its
[invoke, complete] window, so the history it records is linearizable by
construction (the effect order is a witness). A crashed op is recorded as
info; it took effect (at an instant after its invoke) or not, by coin flip,
and its process is never used again. ``plant_stale_read`` then edits one ok
read so that no linearization can exist. All randomness comes from the
``random.Random`` passed in, so a printed seed reproduces a history.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from harness.history.ops import Op, OpType


def simulate_register(
    rng: random.Random,
    *,
    ops: int,
    clients: int,
    keys: int = 1,
    info_fraction: float = 0.0,
    read_fraction: float = 0.5,
    cas_fraction: float = 0.0,
    max_latency: int = 20,
    think_max: int | None = None,
    value_range: int | None = None,
) -> list[Op]:
    """A linearizable history of ``ops`` operations; unique write values.

    Each client issues ops back to back (think time 0..think_max, default
    max_latency; latency 1..max_latency): about half the clients have an op
    open at any moment, or nearly all of them with a small think_max.
    """
    think = max_latency if think_max is None else think_max
    events: list[tuple[int, int, str, Any, str, Any, Any]] = []
    effects: list[tuple[int, int]] = []  # (instant, op number)
    specs: list[dict[str, Any]] = []
    clock = [0] * clients
    process_of = list(range(clients))
    next_process = clients
    next_value = 1
    for number in range(ops):
        client = min(range(clients), key=lambda c: clock[c])
        start = clock[client] + rng.randint(0, think)
        end = start + rng.randint(1, max_latency)
        key = f"k{rng.randrange(keys)}" if keys > 1 else None
        roll = rng.random()
        spec: dict[str, Any]
        if roll < read_fraction:
            spec = {"f": "read", "value": None}
        elif roll < read_fraction + cas_fraction:
            spec = {"f": "cas", "value": None, "new": next_value}
            next_value += 1
        else:
            spec = {"f": "write", "value": next_value}
            next_value += 1
        if value_range is not None and spec["f"] != "read":
            spec["new" if spec["f"] == "cas" else "value"] = rng.randrange(value_range)
        crashed = rng.random() < info_fraction
        spec.update(key=key, process=process_of[client], start=start, end=end, crashed=crashed)
        specs.append(spec)
        if not crashed or rng.random() < 0.5:
            effects.append((rng.randint(start * 2 + 1, end * 2 - 1 + 2 * crashed), number))
        if crashed:
            process_of[client] = next_process
            next_process += 1
        clock[client] = end
    _apply_effects(rng, specs, effects)
    for number, spec in enumerate(specs):
        invoke_value = spec["value"] if spec["f"] != "read" else None
        if spec["f"] == "cas":
            invoke_value = [spec["expected"], spec["new"]]
        events.append(
            (
                spec["start"] * 2,
                number,
                "invoke",
                spec["process"],
                spec["f"],
                invoke_value,
                spec["key"],
            )
        )
        outcome = "info" if spec["crashed"] else spec.get("outcome", "ok")
        done_value = spec["value"] if spec["f"] != "cas" else invoke_value
        events.append(
            (spec["end"] * 2, number, outcome, spec["process"], spec["f"], done_value, spec["key"])
        )
    events.sort(key=lambda e: (e[0], e[2] == "invoke", e[1]))
    return [
        Op(index=i, time=t, process=p, type=OpType(kind), f=f, value=v, key=k)
        for i, (t, _, kind, p, f, v, k) in enumerate(events)
    ]


def _apply_effects(
    rng: random.Random, specs: list[dict[str, Any]], effects: list[tuple[int, int]]
) -> None:
    """Run the effects in instant order against atomic registers; fill in reads and cas outcomes."""
    heapq.heapify(effects)
    registers: dict[object, object] = {}
    history_of: dict[object, list[object]] = {}
    effected = set()
    while effects:
        _, number = heapq.heappop(effects)
        effected.add(number)
        spec = specs[number]
        key = spec["key"]
        current = registers.get(key)
        if spec["f"] == "read":
            spec["value"] = current
        elif spec["f"] == "write":
            registers[key] = spec["value"]
            history_of.setdefault(key, []).append(spec["value"])
        else:
            seen = history_of.get(key, [])
            spec["expected"] = current if not seen or rng.random() < 0.7 else rng.choice(seen)
            if spec["expected"] == current:
                registers[key] = spec["new"]
                history_of.setdefault(key, []).append(spec["new"])
            else:
                spec["outcome"] = "fail"
    for number, spec in enumerate(specs):
        if number not in effected and spec["f"] == "cas":  # a crashed cas that never happened
            spec["expected"] = None


def plant_stale_read(rng: random.Random, history: list[Op]) -> list[Op] | None:
    """Change one ok read to return a value that was certainly overwritten.

    Picks a read R and ok writes W1, W2 on R's key with W1 completing before W2
    is invoked and W2 completing before R is invoked; R then returns W1's value,
    which no linearization allows (values are unique). None if no such triple.
    """
    position = {op.index: n for n, op in enumerate(history)}
    windows: dict[object, list[tuple[int, int, Op]]] = {}
    open_ops: dict[object, Op] = {}
    for n, op in enumerate(history):
        if op.type is OpType.INVOKE:
            open_ops[op.process] = op
            continue
        invoke = open_ops.pop(op.process)
        if op.type is OpType.OK and op.f in ("write", "read"):
            windows.setdefault(op.f, []).append((position[invoke.index], n, op))
    reads = list(windows.get("read", []))
    rng.shuffle(reads)
    writes = sorted(windows.get("write", []), key=lambda w: w[1])
    for read_start, _, read in reads:
        before = [w for w in writes if w[1] < read_start and w[2].key == read.key]
        for second_start, _, second in reversed(before):
            older = [w for w in before if w[1] < second_start and w[2].value != read.value]
            if older and second.value != read.value:
                stale = rng.choice(older)[2].value
                return [replace(op, value=stale) if op is read else op for op in history]
    return None


def plant_overwritten_read(rng: random.Random, history: list[Op]) -> list[Op] | None:
    """Make one ok read return a value that was certainly overwritten, with repeated values.

    With values drawn from a small range, some write of almost any value is
    concurrent with almost any read, so changing a read alone rarely breaks
    linearizability. Here a read R, an ok write W2 of y that completed before R
    was invoked, and a value x (not y, not what R read) are chosen; R now
    returns x, and each producer of x (write x or cas [u, x], crashed ones
    included) that was invoked before R completed but did not complete before
    W2 was invoked now produces y instead. Every linearization then orders all
    remaining producers of x that could precede R before W2, and W2 before R,
    so R cannot see x. Some producer of x must still precede R (so R reads an
    old value, not one nobody wrote), and the triple needing the fewest edits
    is chosen. None if there is no such triple.
    """
    opened: dict[object, int] = {}
    spans: list[tuple[int, float, int]] = []  # (invoke position, completion or inf, completion)
    for n, op in enumerate(history):
        if op.type is OpType.INVOKE:
            opened[op.process] = n
        elif op.type is not OpType.FAIL:
            spans.append((opened.pop(op.process), n if op.type is OpType.OK else math.inf, n))
        else:
            opened.pop(op.process)
    producers = [s for s in spans if history[s[2]].f in ("write", "cas")]
    reads = [s for s in spans if history[s[2]].f == "read" and s[1] != math.inf]
    writes = [s for s in producers if history[s[2]].f == "write" and s[1] != math.inf]
    ends = [w[1] for w in writes]  # in completion order
    best: tuple[tuple[int, float], Any] | None = None
    for read in reads:
        key = history[read[2]].key
        latest = [
            w for w in writes[: bisect.bisect_left(ends, read[0])] if history[w[2]].key == key
        ]
        if not latest:
            continue
        w2 = latest[-1]  # invoked latest among those done before R: fewest edits
        y = history[w2[2]].value
        by_value: dict[Any, list[tuple[int, float, int]]] = {}
        for p in producers:
            if p[0] < read[1] and history[p[2]].key == key:
                by_value.setdefault(_produced(history[p[2]]), []).append(p)
        for x, before in by_value.items():
            if x in (y, history[read[2]].value, None):
                continue
            edits = [p for p in before if p[1] > w2[0]]
            if len(edits) == len(before):
                continue  # then R would read a value nothing wrote before it: too easy
            rank = (len(edits), rng.random())
            if best is None or rank < best[0]:
                best = (rank, (read, x, y, edits))
    if best is None:
        return None
    read, x, y, edits = best[1]
    changed = list(history)
    changed[read[2]] = replace(history[read[2]], value=x)
    for start, _, end in edits:
        for n in (start, end):
            op = history[n]
            changed[n] = replace(op, value=y if op.f == "write" else [op.value[0], y])
    return changed


def _produced(op: Op) -> Any:
    return op.value if op.f == "write" else op.value[1]


def read_inversions(rng: random.Random, history: list[Op], tries: int = 2000) -> Iterator[list[Op]]:
    """Yield copies of ``history`` where two sequential reads see values in an impossible order.

    For ok reads R1 before R2 (R1 returned before R2 was invoked) and writes
    Wx, Wy on the same key with Wx returning before R1 was invoked: R1 now
    returns y and R2 returns x. Any linearization has Wx < R1 < R2; R1 seeing
    y needs Wx < Wy < R1, and then R2 cannot see x again (values are unique).
    Wy is chosen concurrent with both reads, so this is often not a simple
    stale read and the search must prove it.
    """
    opened: dict[object, int] = {}
    reads: list[tuple[int, int]] = []
    writes: list[tuple[int, int]] = []
    for n, op in enumerate(history):
        if op.type is OpType.INVOKE:
            opened[op.process] = n
        elif op.type is OpType.OK and op.f in ("read", "write"):
            (reads if op.f == "read" else writes).append((opened.pop(op.process), n))
        else:
            opened.pop(op.process, None)
    reads.sort()
    ends = [w[1] for w in writes]  # writes are in completion order
    for _ in range(tries):
        if len(reads) < 2:
            return
        at = rng.randrange(len(reads) - 1)
        first, second = reads[at], reads[min(len(reads) - 1, at + rng.randint(1, 20))]
        if first[1] > second[0] or history[first[1]].key != history[second[1]].key:
            continue
        key = history[first[1]].key
        nearby = writes[max(0, bisect.bisect_left(ends, first[0]) - 50) :]
        nearby = nearby[: bisect.bisect_left([w[1] for w in nearby[:400]], second[1] + 400)]
        done_before = [w for w in nearby if w[1] < first[0] and history[w[1]].key == key]
        spanning = [
            w for w in nearby if w[0] < first[1] and w[1] > second[0] and history[w[1]].key == key
        ]
        if not done_before or not spanning:
            continue
        old = (
            history[done_before[-1][1]].value
            if rng.random() < 0.5
            else history[rng.choice(done_before)[1]].value
        )
        new = history[rng.choice(spanning)[1]].value
        changed = list(history)
        changed[first[1]] = replace(history[first[1]], value=new)
        changed[second[1]] = replace(history[second[1]], value=old)
        yield changed
