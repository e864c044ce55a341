"""A grow-only set, one per key.

Op encoding: ``add`` with invoke value v; ``read`` completing ok with the
whole set as a list. A read must see exactly the elements added before it (a
lost or phantom element is a violation). An info read is dropped; an info add
may or may not have happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.history.ops import Op
from spec.models.base import PlainModel, State, freeze


@dataclass(frozen=True, slots=True, kw_only=True)
class SetModel(PlainModel):
    name: str = "set"

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"add", "read"})

    def init(self) -> State:
        return frozenset()

    def is_read_only(self, invoke: Op) -> bool:
        return invoke.f == "read"

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None:
        elements: frozenset = state  # type: ignore[assignment]
        if invoke.f == "add":
            return elements | {freeze(invoke.value)}
        if invoke.f == "read":
            if completion is None:
                return elements
            seen = frozenset(freeze(item) for item in completion.value or ())
            return elements if seen == elements else None
        return None

    def describe_op(self, invoke: Op, completion: Op | None) -> str:
        where = "" if invoke.key is None else f" {invoke.key}"
        if invoke.f == "read":
            shown = "?" if completion is None else repr(sorted(completion.value or (), key=repr))
            return f"read{where} -> {shown}"
        return f"{invoke.f}{where} {invoke.value!r}"

    def describe_state(self, state: State) -> str:
        return f"set={sorted(state, key=repr)!r}"  # type: ignore[call-overload]


SET = SetModel()
