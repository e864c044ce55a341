"""Value-based pruning for register-like models: can every pending observer still see its value?

Theory of operation: the WGL search (harness/check/wgl.py) asks, before it
linearizes a call, whether the step leaves some pending observer (a read of
v, a cas expecting v) without any way to see v. A *source* of v is an
unplaced producer of v (a write of v, a cas [u, v] with u != v) or the current
state when it equals v. An observer must be linearized before it returns, and
so must the producer that serves it, so only producers invoked before the
observer returned count. Reads share a source; a cas [v, w] with w != v
*consumes* one (after it the state is w). These are necessary conditions on
the calls still to place, so refusing a step that violates them never loses a
linearization (docs/checker.md, rules (a) and (a')).

The counts live in ``Tally``, updated by the search as it places and unplaces
calls; the window checks walk the search's list of unplaced calls, which is in
history order.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.check.wgl_prepare import Call
from spec.models.base import NO_VALUE

# How far past the horizon (history lines) the window check still looks. Further on,
# nothing has changed since the search began except which value is current, so the
# check rarely refuses there; 400 lines covers a few op windows with 50 clients, and
# measured on 1k/10k-op 50-client histories with values 0..4 it prunes as well as an
# unbounded walk at a fraction of the cost.
LOOKAHEAD = 400

if TYPE_CHECKING:
    from harness.check.wgl import _Entry


class Tally:
    """Per-value counts over the calls not yet linearized (kept in step with the search)."""

    __slots__ = (
        "crashed_producers",
        "events",
        "finite_starts",
        "may_observe",
        "must_consume",
        "must_observe",
        "producers",
    )

    def __init__(self, calls: Sequence[Call]) -> None:
        self.must_observe: Counter = Counter()  # ok calls that still have to see the value
        self.may_observe: Counter = Counter()  # the same, crashed ones included
        self.must_consume: Counter = Counter()  # ok calls that see the value and change it
        self.producers: Counter = Counter()  # calls that can make it the state when it is not
        # value -> (positions, entries) for the window check; see index_events
        self.events: dict[Any, tuple[list[float], list[_Entry]]] = {}
        self.crashed_producers: dict[Any, list[_Entry]] = {}  # their call entries, in order
        # invocation positions of the finite calls: finite_starts[base] is the first unplaced one
        self.finite_starts = sorted(c.call_pos for c in calls if c.ret_pos != math.inf)
        must_observe, may_observe = self.must_observe, self.may_observe
        must_consume, producers = self.must_consume, self.producers
        for call in calls:  # take(call, +1), inlined: this runs once per call of the history
            observed = call.observed
            produced = call.produced
            if observed is not NO_VALUE:
                may_observe[observed] += 1
                if call.ret_pos != math.inf:
                    must_observe[observed] += 1
                    if produced is not NO_VALUE and produced != observed:
                        must_consume[observed] += 1
            if produced is not NO_VALUE and produced != observed:
                producers[produced] += 1

    def take(self, call: Call, delta: int) -> None:
        """Count ``call`` in (delta +1) or out (delta -1, it was just linearized)."""
        observed = call.observed
        produced = call.produced
        if observed is not NO_VALUE:
            self.may_observe[observed] += delta
            if call.ret_pos != math.inf:
                self.must_observe[observed] += delta
                if produced is not NO_VALUE and produced != observed:
                    self.must_consume[observed] += delta
        if produced is not NO_VALUE and produced != observed:
            self.producers[produced] += delta  # a cas [v, v] needs v already: no source of it


def value_rules(
    state: Any,
    new_state: Any,
    call: Call,
    absorbed: frozenset[int],
    tally: Tally,
    head: _Entry,
    horizon: float,
    base: int,
) -> Any:
    """Prune rules (a) and (a') of the module docstring; returns None to refuse the step.

    ``absorbed`` holds the ids of the dead writes placed just before ``call``
    (rule c). They never observe or produce a value anyone observes, so they
    matter only as departures from the current value, and this step places them. The sources of a value
    for its pending observers shrink only when a producer of it is linearized
    (the new state) or when the state moves away from it (the old state), so
    those two values are the ones to check.
    """
    if call.produced is NO_VALUE:
        return new_state
    pending = tally.must_observe.get(state, 0)
    consumers = tally.must_consume.get(state, 0)
    if call.observed == state and call.ret_pos != math.inf:
        pending -= 1
        if new_state != state:
            consumers -= 1
    if pending > 0:
        if new_state == state:  # re-produced: one producer fewer, still current
            if not _sources_suffice(
                head, state, call, absorbed, 1, consumers, horizon, tally, new_state, base
            ):
                return None
        elif tally.producers.get(state, 0) <= 0:
            return None  # rule (a): nothing can produce the old value again
        elif not _sources_suffice(
            head, state, call, absorbed, 0, consumers, horizon, tally, new_state, base
        ):
            return None
    if (
        new_state != state
        and tally.must_observe.get(new_state, 0) > 0
        and tally.producers.get(new_state, 0) > 1
    ):
        # Repeated values only (with one producer the refutation covers this case): the
        # new value's later observers may need another producer once the state moves on.
        consumers = tally.must_consume.get(new_state, 0)
        if not _sources_suffice(
            head, new_state, call, absorbed, 1, consumers, horizon, tally, new_state, base
        ):
            return None
    return new_state


def _sources_suffice(
    head: _Entry,
    value: Any,
    moving: Call,
    absorbed: frozenset[int],
    have: int,
    consumers: int,
    horizon: float,
    tally: Tally,
    current: Any,
    base: int,
) -> bool:
    """Rule (a'): every pending observer of ``value`` can still get it from a source.

    A source is an unplaced producer of ``value`` (it must be linearized before
    the observer it serves, so it was invoked before that observer returned) or
    the current state when it equals ``value`` (``have`` = 1). Reads share
    sources, but a call that sees the value and changes it (cas [v, w], w != v)
    consumes one: after it the state is w, and the next such call needs a new
    producer. So, walking the list of unplaced calls in history order, each
    observer's return must find at least one source invoked before it, and the
    k-th consuming observer to return at least k (Hall's condition for this
    nested matching). The current state lasts only until the first unplaced
    call that needs another state returns (it must be linearized by then): an
    observer invoked after that is "late" and needs a producer. ``moving`` is
    the call being linearized now; its entries do not count. The walk stops
    ``LOOKAHEAD`` lines past ``horizon`` (the furthest position any linearized
    call reaches): the check is a necessary condition, so stopping early only
    prunes less.
    """
    available = consumed = consumed_late = 0
    leaves = _first_departure(head, value, moving, absorbed) if have else -math.inf
    target = max(1, consumers)
    # Every finite call invoked before the first unplaced one is placed, so the walk can
    # start there; crashed producers invoked earlier stay unplaced for ever and count first.
    starts = tally.finite_starts
    start = starts[base] if base < len(starts) else math.inf
    for early in tally.crashed_producers.get(value, ()):
        if early.call.call_pos >= start:  # type: ignore[union-attr]
            break
        if early.prev.next is early and _can_fire(early.call, current, tally):  # type: ignore[union-attr,arg-type]
            available += 1
    if available >= target:
        return True
    positions, events = tally.events.get(value, _NO_EVENTS)
    for at in range(bisect_left(positions, start), len(events)):
        if positions[at] > horizon + LOOKAHEAD:
            return True
        entry = events[at]
        call: Call = entry.call  # type: ignore[assignment]
        if entry.prev.next is not entry or call is moving:  # type: ignore[union-attr]
            continue  # linearized already, or being linearized now
        if entry.is_call:
            if _can_fire(call, current, tally):
                available += 1
                if available >= target:
                    return True  # enough for every pending observer
        else:
            late = call.call_pos > leaves
            if call.produced is NO_VALUE or call.produced == value:
                if available == 0 and late:
                    return False  # a read (or cas v -> v) with no source left
            else:
                consumed += 1
                consumed_late += late
                if consumed > available + have or consumed_late > available:
                    return False
    return True


def _can_fire(producer: Call, current: Any, tally: Tally) -> bool:
    """A cas [u, v] is a source of v only while u can still be the state."""
    observed = producer.observed
    return observed is NO_VALUE or observed == current or tally.producers.get(observed, 0) > 0


def _first_departure(head: _Entry, value: Any, moving: Call, absorbed: frozenset[int]) -> float:
    """The first return of an unplaced ok call that needs a state other than ``value``.

    The call being placed and the dead writes it absorbs (rule c: they go just
    before it) are placed by this step, so their returns do not count.
    """
    entry = head.next
    while entry is not None:
        call = entry.call
        if not entry.is_call and entry.finite and call is not moving and id(call) not in absorbed:
            observed = call.observed  # type: ignore[union-attr]
            produced = call.produced  # type: ignore[union-attr]
            if (observed is not NO_VALUE and observed != value) or (
                produced is not NO_VALUE and produced != value
            ):
                return call.ret_pos  # type: ignore[union-attr]
        entry = entry.next
    return math.inf


def index_events(tally: Tally, head: _Entry) -> None:
    """Per value, the list entries the window check reads, in history order.

    A producer's call entry (a cas [v, v] is no source of v) and a finite
    observer's return entry; the check skips the ones lifted out of the list.
    Only values with two or more producers are indexed: with one producer,
    rule (a) decides before any walk (once the producer is placed nothing can
    produce the value again), and with unique values (most histories) the
    index would cost memory for nothing.
    """
    repeated = {value for value, count in tally.producers.items() if count > 1}
    entry = head.next if repeated else None
    while entry is not None:
        call: Call = entry.call  # type: ignore[assignment]
        if entry.is_call:
            produced = call.produced
            if produced in repeated and produced != call.observed:
                _add_event(tally, produced, call.call_pos, entry)
                if not entry.finite:
                    tally.crashed_producers.setdefault(produced, []).append(entry)
        elif entry.finite and call.observed in repeated:
            _add_event(tally, call.observed, call.ret_pos, entry)
        entry = entry.next


def _add_event(tally: Tally, value: Any, position: float, entry: _Entry) -> None:
    positions, events = tally.events.setdefault(value, ([], []))
    positions.append(position)
    events.append(entry)


_NO_EVENTS: tuple[list[float], list[_Entry]] = ([], [])
