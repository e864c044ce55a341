"""A mutual-exclusion lock, one per key.

Op encoding: ``acquire`` / ``release``; the owner is the op's ``value`` when
set, else the op's process. The state is ``(owner,)`` while held and ``()`` while free (not None: None
means "illegal" to the checker).
An ok acquire is legal only while the lock is free (not reentrant); an ok
release only by the owner holding it. An info acquire or release may or may
not have happened (the checker places it or leaves it out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.history.ops import Op
from spec.models.base import PlainModel, State, freeze


def owner_of(invoke: Op) -> Any:
    return freeze(invoke.value) if invoke.value is not None else invoke.process


@dataclass(frozen=True, slots=True, kw_only=True)
class MutexModel(PlainModel):
    name: str = "mutex"

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"acquire", "release"})

    def init(self) -> State:
        return ()

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None:
        owner = owner_of(invoke)
        if invoke.f == "acquire":
            return (owner,) if state == () else None
        if invoke.f == "release":
            return () if state == (owner,) else None
        return None

    def describe_op(self, invoke: Op, completion: Op | None) -> str:
        where = "" if invoke.key is None else f" {invoke.key}"
        return f"{invoke.f}{where} by {owner_of(invoke)!r}"

    def describe_state(self, state: State) -> str:
        return "free" if state == () else f"held by {state[0]!r}"  # type: ignore[index]


MUTEX = MutexModel()
