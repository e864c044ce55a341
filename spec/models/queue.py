"""A FIFO queue, one per key (use it on small histories: the state is the queue).

Op encoding: ``enqueue`` with invoke value v; ``dequeue`` completing ok with
value v, or with value None when the queue was empty. An info dequeue, if it
happened, removed the head (whatever it was) or found the queue empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.history.ops import Op
from spec.models.base import PlainModel, State, freeze


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueModel(PlainModel):
    name: str = "queue"

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"enqueue", "dequeue"})

    def init(self) -> State:
        return ()

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None:
        items: tuple = state  # type: ignore[assignment]
        if invoke.f == "enqueue":
            return (*items, freeze(invoke.value))
        if invoke.f == "dequeue":
            if completion is None:
                return items[1:]
            value = freeze(completion.value)
            if value is None:
                return items if not items else None
            return items[1:] if items and items[0] == value else None
        return None

    def describe_op(self, invoke: Op, completion: Op | None) -> str:
        where = "" if invoke.key is None else f" {invoke.key}"
        if invoke.f == "dequeue":
            shown = "?" if completion is None else repr(completion.value)
            return f"dequeue{where} -> {shown}"
        return f"{invoke.f}{where} {invoke.value!r}"

    def describe_state(self, state: State) -> str:
        return f"queue={list(state)!r}"  # type: ignore[call-overload]


QUEUE = QueueModel()
