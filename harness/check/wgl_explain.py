"""Build the Counterexample a person reads when a partition is not linearizable.

The search reports its deepest dead end: the longest partial linearization,
the call whose return was reached before it could take effect (``blocked``)
and the candidates none of which could go next (``stuck``). Here we replay the
linearization with the model's real states (the search may have abstracted a
dead register value) and say in words why the blocked call fails, naming the
write it would have needed for register-like models.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from harness.check.verdict import Counterexample
from harness.check.wgl import SearchResult
from harness.check.wgl_prepare import Call
from harness.history.ops import Op
from spec.models.base import NO_VALUE, Model

_RECENT_LINEARIZED = 3


def build_counterexample(
    model: Model,
    key: Hashable,
    calls: Sequence[Call],
    found: SearchResult,
    info_completions: dict[int, Op],
) -> Counterexample:
    states, raw_state = _replay(model, found.longest)
    linearized = [(call.invoke, text) for call, text in zip(found.longest, states, strict=True)]
    final_state = states[-1] if states else model.describe_state(model.init())
    window_calls = _window(model, calls, found, raw_state)
    window = [
        (c.invoke, c.completion or info_completions.get(c.invoke.index)) for c in window_calls
    ]
    return Counterexample(
        key=key,
        window=window,
        linearized=linearized,
        stuck=[c.invoke for c in found.stuck],
        blocked=found.blocked.invoke if found.blocked is not None else None,
        explanation=found.proof or _explain(model, key, calls, found, final_state, raw_state),
    )


def _replay(model: Model, order: Sequence[Call]) -> tuple[list[str], Any]:
    state: Any = model.init()
    texts: list[str] = []
    for call in order:
        state = model.step(state, call.invoke, call.completion)
        if state is None:  # cannot happen for a path the search accepted; say so rather than crash
            texts.extend("?" for _ in range(len(order) - len(texts)))
            return texts, None
        texts.append(model.describe_state(state))
    return texts, state


def _producers_of(model: Model, calls: Sequence[Call], value: Any) -> list[Call]:
    return [c for c in calls if model.produced_value(c.invoke, c.completion) == value]


def _window(model: Model, calls: Sequence[Call], found: SearchResult, raw_state: Any) -> list[Call]:
    chosen: dict[int, Call] = {}
    done = {id(c) for c in found.longest}
    for reader in _pending_observers(model, calls, done, raw_state)[:3]:
        chosen[reader.invoke.index] = reader
    for call in [*found.longest[-_RECENT_LINEARIZED:], *found.stuck, *found.witnesses]:
        chosen[call.invoke.index] = call
    blocked = found.blocked
    if blocked is not None:
        chosen[blocked.invoke.index] = blocked
        observed = model.observed_value(blocked.invoke, blocked.completion)
        if observed is not NO_VALUE:
            for producer in _producers_of(model, calls, observed):
                chosen[producer.invoke.index] = producer
    return sorted(chosen.values(), key=lambda c: c.call_pos)


def unwritten_value_proof(model: Model, call: Call) -> str:
    """Why ``call`` is illegal when nothing in the history produces the value it observed."""
    value = model.observed_value(call.invoke, call.completion)
    return (
        f"{model.describe_op(call.invoke, call.completion)} ({_where(call)}) observed {value!r}, "
        f"but no op in the history produces {value!r} and it is not the initial value, so no "
        f"linearization can place it."
    )


def _where(call: Call) -> str:
    return f"op {call.invoke.index}, process {call.invoke.process!r}"


def _explain(
    model: Model,
    key: Hashable,
    calls: Sequence[Call],
    found: SearchResult,
    final_state: str,
    raw_state: Any,
) -> str:
    blocked = found.blocked
    on_key = "" if key is None else f" on key {key!r}"
    if blocked is None:
        return f"No linearization exists{on_key}."
    what = model.describe_op(blocked.invoke, blocked.completion)
    prefix = (
        f"{what} ({_where(blocked)}) could not take effect{on_key}: after the longest "
        f"linearization found ({len(found.longest)} ops) the state was {final_state}, and none "
        f"of the {len(found.stuck)} ops that could go next before it returned was legal."
    )
    observed = model.observed_value(blocked.invoke, blocked.completion)
    if observed is NO_VALUE:
        return prefix + _overwrite_note(model, calls, found, blocked, raw_state)
    producers = _producers_of(model, calls, observed)
    if observed == model.init() and not producers:
        return (
            f"{prefix} It needs the initial value {observed!r}, which a completed write replaced."
        )
    if not producers:
        return f"{prefix} No write of {observed!r} exists{on_key}, so it can never be observed."
    shown = ", ".join(
        f"{model.describe_op(p.invoke, p.completion)} ({_where(p)})"
        + (" (crashed)" if p.crashed else "")
        for p in producers[:3]
    )
    return (
        f"{prefix} It needs the value {observed!r}, produced only by {shown}; by then that value "
        f"had been overwritten, or the write could not yet have happened."
    )


def _overwrite_note(
    model: Model, calls: Sequence[Call], found: SearchResult, blocked: Call, raw_state: Any
) -> str:
    """Why a register write could not go next: it would destroy a value a read still needs."""
    if model.produced_value(blocked.invoke, blocked.completion) is NO_VALUE:
        return ""
    done = {id(c) for c in found.longest}
    readers = _pending_observers(model, calls, done, raw_state)
    rewriters = [
        c
        for c in calls
        if id(c) not in done and model.produced_value(c.invoke, c.completion) == raw_state
    ]
    if not readers or rewriters:
        return ""
    shown = ", ".join(
        f"{model.describe_op(c.invoke, c.completion)} ({_where(c)})" for c in readers[:3]
    )
    return (
        f" It would overwrite {raw_state!r}, which {shown} still has to observe, and no later "
        f"write produces {raw_state!r} again: that read returned a stale value."
    )


def _pending_observers(
    model: Model, calls: Sequence[Call], done: set[int], raw_state: Any
) -> list[Call]:
    if not model.value_based or raw_state is None:
        return []
    return [
        c
        for c in calls
        if id(c) not in done
        and c.is_ok
        and model.observed_value(c.invoke, c.completion) == raw_state
    ]
