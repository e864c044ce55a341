"""The Wing & Gong / Lowe linearizability search on one partition.

Theory of operation (porcupine's ``checkSingle``, Lowe 2017 §3): the calls'
invocations and returns form one doubly linked list in history order. A call
may be linearized next iff its invocation precedes the first return still in
the list (the *candidates*). The search tries the candidates in turn (step
the model); on success it *lifts* the call and its return out of the list,
pushes a frame and computes the new candidates. When none works, the first
return's call can no longer be linearized in time, so the search pops the
frame, *unlifts* that call and tries the next candidate. A cache of
(linearized set, state) pairs (Lowe's memoization) stops it from exploring a
configuration twice.

Our changes, each sound (docs/checker.md has the arguments):
- The linearized set is ``(base, bits)``: every call with id < base is done
  and ``bits`` is relative to base, so a Python int stays as wide as the
  concurrency window, not the history (100k-op histories stay cheap).
  Crashed (info) calls have their own small bitset.
- Info calls return at infinity: the search succeeds once every call that
  returned is linearized, whatever happened to the info calls. They are
  tried after the finite candidates.
- Register-like models (``model.value_based``): (a)/(a') a step is refused
  when some pending observer of a value could no longer get it
  (harness/check/wgl_sources.py); (b) a state that no remaining call can
  observe is replaced by DEAD in the cache key, so configurations that
  differ only in an unobservable value are explored once; (c) an ok write
  whose value nobody observes ("dead") is placed only just before another
  plain write, ok or crashed (with every dead write that could go there), or when
  its return is reached, instead of in every possible gap; (d) reads are
  tried first, and a read that is legal now is placed at once without
  alternatives: any linearization from here can be changed to place it
  first (it changes no state, and every op that must precede it has
  already been placed); (e) of interchangeable producers (same observed and
  produced value: two writes of v, two cas [u, v], crashed or not) only the
  candidate that returns first is tried.
- Restarts: the order of candidates decides only how fast a verdict comes.
  After a budget of dead ends the search restarts from the root with the
  other order (history order, then earliest return first, alternating; the
  budget doubles every two rounds). Every cached configuration off the
  current path was fully explored and failed, so the cache is kept minus
  that path. A wrong early choice in a valid history no longer costs the
  whole exponential subtree below it.
- A deadline and a memory estimate bound the search: UNKNOWN, never a hang.
"""

from __future__ import annotations

import enum
import gc
import math
import resource
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from harness.check.wgl_prepare import Call
from harness.check.wgl_sources import Tally, index_events, value_rules
from spec.models.base import NO_VALUE, Model

_BUDGET_CHECK_EVERY = 2048
_NONE: frozenset[int] = frozenset()
_FIRST_ROUND_DEAD_ENDS = 20_000  # dead ends before the first restart; doubles every two rounds
# Calibrated with tracemalloc on 20k-op register histories: ~750 bytes per call overall.
_BYTES_PER_CACHE_ENTRY = 400  # memo key tuple + set slot + ints + the frame that made it
_BYTES_PER_CALL = 300  # two list entries + event tuple
_BYTES_PER_ELEMENT = 40  # per element of a tuple/frozenset state (slot + share of the element)
_SIZED_STATES = (tuple, frozenset)


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Dead:
    """A register value that no remaining call can observe (unequal to every value)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEAD"


DEAD: Any = _Dead()


class Outcome(enum.Enum):
    OK = "ok"
    ILLEGAL = "illegal"
    TIMEOUT = "timeout"
    MEMORY = "memory"


@dataclass(slots=True, kw_only=True)
class SearchResult:
    outcome: Outcome
    longest: list[Call] = field(default_factory=list)  # in linearization order
    stuck: list[Call] = field(default_factory=list)  # candidates at the dead end
    blocked: Call | None = None  # the call whose return was reached unlinearized
    cache_entries: int = 0
    memory_bytes_estimate: int = 0
    iterations: int = 0
    proof: str | None = None  # set when a refutation (wgl_refute) proved ILLEGAL
    witnesses: list[Call] = field(default_factory=list)  # ops the proof names


class _Entry:
    __slots__ = (
        "call",
        "dead",
        "finite",
        "ident",
        "is_call",
        "live",
        "match",
        "next",
        "plain_write",
        "prev",
        "rank",
        "read_only",
        "twins",
    )

    def __init__(self, call: Call | None, is_call: bool, ident: int, finite: bool) -> None:
        self.call = call
        self.is_call = is_call
        self.ident = ident
        self.finite = finite
        self.dead = False  # an ok write whose value no op observes (rule c)
        self.plain_write = False  # produces a value without observing one
        self.live = 0  # 1 for a finite call that is not dead: it must be placed by the search
        self.read_only = False  # placed eagerly when legal (rule d)
        self.twins: list[_Entry] | None = None  # calls with the same effect, by return (rule e)
        self.rank = 0  # this call's place in ``twins``
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _build_list(
    calls: Sequence[Call], may_observe: Counter | None, model: Model
) -> tuple[_Entry, int]:
    """Link call/return entries in history order; ids follow invocation order.

    Returns the list head and the number of live calls (finite and not dead).
    """
    # Positions are distinct history lines, so (position, entry) sorts without ties
    # except among converted or info returns, whose relative order does not matter.
    events: list[tuple[float, _Entry]] = []
    live = 0
    finite_count = 0
    info_count = 0
    is_read_only = model.is_read_only
    for call in sorted(calls, key=attrgetter("call_pos")):
        finite = call.ret_pos != math.inf
        if finite:
            ident, finite_count = finite_count, finite_count + 1
        else:
            ident, info_count = info_count, info_count + 1
        start = _Entry(call, True, ident, finite)
        end = _Entry(call, False, ident, finite)
        start.match = end
        end.match = start
        plain = call.produced is not NO_VALUE and call.observed is NO_VALUE
        dead = plain and finite and may_observe is not None and not may_observe[call.produced]
        read_only = finite and is_read_only(call.invoke)
        is_live = int(finite and not dead)
        for made in (start, end):
            made.plain_write = plain
            made.dead = dead
            made.live = is_live
            made.read_only = read_only
        live += is_live
        events.append((call.call_pos, start))
        events.append((call.ret_pos, end))
    events.sort(key=itemgetter(0))
    if may_observe is not None:
        _link_twins([entry for _, entry in events if entry.is_call])
    head = _Entry(None, False, -1, False)
    previous = head
    for _, entry in events:
        previous.next = entry
        entry.prev = previous
        previous = entry
    return head, live


def _lift(entry: _Entry) -> None:
    entry.prev.next = entry.next  # type: ignore[union-attr]
    entry.next.prev = entry.prev  # type: ignore[union-attr]
    match = entry.match
    match.prev.next = match.next  # type: ignore[union-attr]
    if match.next is not None:  # type: ignore[union-attr]
        match.next.prev = match.prev  # type: ignore[union-attr]


def _unlift(entry: _Entry) -> None:
    match = entry.match
    match.prev.next = match  # type: ignore[union-attr]
    if match.next is not None:  # type: ignore[union-attr]
        match.next.prev = match  # type: ignore[union-attr]
    entry.prev.next = entry  # type: ignore[union-attr]
    entry.next.prev = entry  # type: ignore[union-attr]


def search(
    model: Model,
    calls: Sequence[Call],
    *,
    deadline: float | None = None,
    memory_limit_bytes: int | None = None,
) -> SearchResult:
    """Look for a linearization of ``calls`` (one partition) from ``model.init()``.

    The cyclic garbage collector is paused meanwhile: the search allocates
    millions of small acyclic objects and no garbage cycles, and generation
    scans over a 100k-op history would otherwise dominate the run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _search(model, calls, deadline, memory_limit_bytes)
    finally:
        if was_enabled:
            gc.enable()


def _search(
    model: Model, calls: Sequence[Call], deadline: float | None, memory_limit_bytes: int | None
) -> SearchResult:
    value_based = model.value_based
    tally = Tally(calls)
    may_observe = tally.may_observe
    head, remaining = _build_list(calls, may_observe if value_based else None, model)
    if value_based:
        index_events(tally, head)
    step = model.step
    state: Any = model.init()
    if value_based and may_observe.get(state, 0) == 0:
        state = DEAD
    base = bits = info_bits = 0
    horizon = -math.inf  # the furthest position a linearized call reaches (rule a')
    cache: set[tuple[int, int, int, Any]] = {(0, 0, 0, state)}
    # The stack is a linked list of frames, so remembering the deepest dead end is O(1),
    # not a copy of a 100k-deep list.
    top: Frame | None = None
    deepest: Frame | None = None
    result = SearchResult(outcome=Outcome.OK)
    memory_estimate = _BYTES_PER_CACHE_ENTRY + _BYTES_PER_CALL * len(calls)
    rss_at_start = _max_rss_bytes()  # a second guard in case the estimate is off
    iterations = restarts = dead_ends = 0
    round_end = _FIRST_ROUND_DEAD_ENDS
    candidates, blocking = _candidates(head, restarts % 2 == 1)
    position = 0
    while remaining:
        iterations += 1
        if iterations % _BUDGET_CHECK_EVERY == 0:
            if deadline is not None and time.monotonic() > deadline:
                result.outcome = Outcome.TIMEOUT
                break
            if memory_limit_bytes is not None and (
                memory_estimate > memory_limit_bytes
                or _max_rss_bytes() - rss_at_start > memory_limit_bytes
            ):
                result.outcome = Outcome.MEMORY
                break
            if dead_ends >= round_end and top is not None:
                # Restart from the root with the other candidate order. Every cached
                # configuration off the current path was explored to the end and failed,
                # so it stays cached; the ones on the path are still open.
                while top is not None:
                    cache.discard((base, bits, info_bits, state))
                    frame = top
                    state, base, bits, info_bits, top = frame[1:6]
                    horizon = frame[9]
                    remaining += _unplace(frame, tally)
                cache.discard((base, bits, info_bits, state))
                restarts += 1
                round_end = dead_ends + _FIRST_ROUND_DEAD_ENDS * 2 ** (restarts // 2)
                candidates, blocking = _candidates(head, restarts % 2 == 1)
                position = 0
        if position < len(candidates):
            candidate = candidates[position]
            call: Call = candidate.call  # type: ignore[assignment]
            if value_based and call.observed is not NO_VALUE and call.observed != state:
                new_state = None  # an observer needs the current value; skip the model call
            else:
                new_state = step(state, call.invoke, call.completion)
            absorbed = (
                _dead_candidates(head) if candidate.plain_write and not candidate.dead else ()
            )
            if new_state is not None and value_based and state is not DEAD:
                skipped = frozenset(id(dead.call) for dead in absorbed) if absorbed else _NONE
                new_state = value_rules(state, new_state, call, skipped, tally, head, horizon, base)
            if new_state is not None:
                for taken in (*absorbed, candidate):
                    tally.take(taken.call, -1)  # type: ignore[arg-type]
                if value_based and may_observe.get(new_state, 0) == 0:
                    new_state = DEAD
                new_base, new_bits, new_info = _marked(base, bits, info_bits, candidate, absorbed)
                key = (new_base, new_bits, new_info, new_state)
                if key not in cache:
                    cache.add(key)
                    memory_estimate += _BYTES_PER_CACHE_ENTRY + (new_bits.bit_length() >> 3)
                    if new_state.__class__ in _SIZED_STATES:  # queue/set states grow
                        memory_estimate += _BYTES_PER_ELEMENT * len(new_state)
                    depth = 0 if top is None else top[6] + 1
                    eager = candidate.read_only
                    top = (
                        candidate,
                        state,
                        base,
                        bits,
                        info_bits,
                        top,
                        depth,
                        absorbed,
                        eager,
                        horizon,
                        position,
                    )
                    state, base, bits, info_bits = new_state, new_base, new_bits, new_info
                    # Absorbed dead writes are never sources or observers: rule (a') ignores them.
                    reach = call.ret_pos if candidate.finite else call.call_pos
                    if reach > horizon:
                        horizon = reach
                    for lifted in (*absorbed, candidate):
                        _lift(lifted)
                    remaining -= candidate.live
                    if absorbed or candidate.twins is not None or candidate.match is blocking:
                        candidates, blocking = _candidates(head, restarts % 2 == 1)
                    else:  # the same first return: the same candidates but this one
                        candidates.remove(candidate)  # frames keep only the position
                    position = 0
                    continue
                for taken in (*absorbed, candidate):
                    tally.take(taken.call, +1)  # type: ignore[arg-type]
            if not (new_state is not None and candidate.read_only):
                position += 1
                continue
            # Rule (d): a legal read that was already explored from here means this
            # configuration is a dead end, so fall through to backtracking.
        dead_ends += 1
        depth = -1 if top is None else top[6]
        if result.blocked is None or depth > (-1 if deepest is None else deepest[6]):
            deepest = top
            _record_dead_end(result, head, blocking)
        eager = True
        while eager and top is not None:
            # Rule (d): after an eager read fails, its alternatives need not be tried.
            frame = top
            state, base, bits, info_bits, top = frame[1:6]
            eager, horizon, position = frame[8:11]
            remaining += _unplace(frame, tally)
        if eager:
            result.outcome = Outcome.ILLEGAL
            break
        # The same list state as when the frame was pushed, so the same candidates in the
        # same order (recomputed rather than kept in every frame of a 100k-deep stack).
        candidates, blocking = _candidates(head, restarts % 2 == 1)
        position += 1
    result.cache_entries = len(cache)
    result.memory_bytes_estimate = memory_estimate
    result.iterations = iterations
    if result.outcome is not Outcome.OK:  # a valid partition needs no witness path
        result.longest = _calls_of(deepest)
    return result


def _unplace(frame: Frame, tally: Tally) -> int:
    """Undo the linearization a frame recorded; returns how many live calls came back."""
    entry: _Entry = frame[0]
    for lifted in (entry, *reversed(frame[7])):
        _unlift(lifted)
        tally.take(lifted.call, +1)  # type: ignore[arg-type]
    return entry.live


def _candidates(head: _Entry, by_deadline: bool) -> tuple[list[_Entry], _Entry | None]:
    """The calls that may be linearized next, in the order to try them, and the first return.

    A call may go next iff its invocation precedes the first return still in
    the list (WGL). Reads go first: a legal one is placed without alternatives
    (rule d). Dead writes are placed only by absorption, or alone when their
    return is the first one (rule c). The order is the history's, or by
    earliest return ("deadline") on alternate restarts; either way every
    candidate is tried, so the order changes the time to a verdict, never it.
    Of interchangeable producers only the one that returns first is a
    candidate (rule e): swapping two calls with the same effect changes no
    state, the earlier-returning one meets the later one's deadline, and both
    were invoked already. Crashed calls return at infinity, so of two crashed
    twins the earlier-invoked goes first, and a finite twin before a crashed one.
    """
    reads: list[_Entry] = []
    others: list[_Entry] = []
    crashed: list[_Entry] = []
    leaders: dict[int, _Entry] = {}  # per twin group, the candidate that returns first
    entry = head.next
    while entry is not None and entry.is_call:
        if entry.read_only:
            reads.append(entry)
        elif not entry.dead:
            (others if entry.finite else crashed).append(entry)
            if entry.twins is not None:
                leader = leaders.get(id(entry.twins))
                if leader is None or entry.rank < leader.rank:
                    leaders[id(entry.twins)] = entry
        entry = entry.next
    if leaders:  # rule (e): a call with a twin that returns earlier is not tried
        others = [e for e in others if e.twins is None or leaders[id(e.twins)] is e]
        crashed = [e for e in crashed if e.twins is None or leaders[id(e.twins)] is e]
    if by_deadline:
        others.sort(key=_return_position)
    if entry is not None and entry.dead:
        others.append(entry.match)  # type: ignore[arg-type]
    reads.extend(others)
    reads.extend(crashed)  # last: a crashed call need never take effect
    return reads, entry


def _return_position(entry: _Entry) -> float:
    return entry.call.ret_pos  # type: ignore[union-attr]


# (call placed, state/base/bits/info_bits before it, parent, depth, absorbed dead writes,
#  eager read?, horizon before it, its index in the candidates it was chosen from)
Frame = tuple[_Entry, Any, int, int, int, Any, int, tuple[_Entry, ...], bool, float, int]


def _calls_of(frame: Frame | None) -> list[Call]:
    calls: list[Call] = []
    while frame is not None:
        calls.append(frame[0].call)  # type: ignore[arg-type]
        calls.extend(entry.call for entry in reversed(frame[7]))  # type: ignore[misc]
        frame = frame[5]
    calls.reverse()
    return calls


def _link_twins(starts: list[_Entry]) -> None:
    """Group the call entries of interchangeable producers, ordered by return (rule e).

    Two producers are interchangeable when they observe and produce the same
    values (two writes of v, two cas [a, b], finite or crashed): the model
    steps them identically. Dead writes are placed by rule (c) instead.
    """
    groups: dict[tuple[Any, Any], list[_Entry]] = {}
    for entry in starts:
        call: Call = entry.call  # type: ignore[assignment]
        if call.produced is not NO_VALUE and not entry.dead:
            groups.setdefault((call.observed, call.produced), []).append(entry)
    for group in groups.values():
        if len(group) > 1:
            group.sort(key=lambda e: (e.call.ret_pos, e.call.call_pos))  # type: ignore[union-attr]
            for rank, entry in enumerate(group):
                entry.twins, entry.rank = group, rank


def _dead_candidates(head: _Entry) -> tuple[_Entry, ...]:
    """Dead writes that could take effect now (their call precedes the first return)."""
    found = []
    entry = head.next
    while entry is not None and entry.is_call:
        if entry.dead:
            found.append(entry)
        entry = entry.next
    return tuple(found)


def _marked(
    base: int, bits: int, info_bits: int, entry: _Entry, absorbed: tuple[_Entry, ...]
) -> tuple[int, int, int]:
    if not entry.finite:
        info_bits |= 1 << entry.ident
    else:
        base, bits = _mark(base, bits, entry.ident)
    for dead in absorbed:
        base, bits = _mark(base, bits, dead.ident)
    return base, bits, info_bits


def _mark(base: int, bits: int, ident: int) -> tuple[int, int]:
    """Add call ``ident`` to the relative bitset and slide base past the done prefix."""
    bits |= 1 << (ident - base)
    if bits & 1:
        done = ((~bits) & (bits + 1)).bit_length() - 1
        return base + done, bits >> done
    return base, bits


def _record_dead_end(result: SearchResult, head: _Entry, blocking: _Entry | None) -> None:
    assert blocking is not None, "a live call's return entry is always in the list"
    result.blocked = blocking.call
    stuck: list[Call] = []
    entry = head.next
    while entry is not None and entry is not blocking:
        if entry.is_call:
            stuck.append(entry.call)  # type: ignore[arg-type]
        entry = entry.next
    result.stuck = stuck
