"""A read/write register, and the cas-register and kv models built on it.

Op encoding (Jepsen / knossos):
    read   invoke value None        completion ok value v   (v None: see below)
    write  invoke value v           completion ok value v
    cas    invoke value [old, new]  completion ok            (cas-register, kv only)

A cas that completed ``fail`` did not happen and is dropped by the checker
before it reaches the model, as every ``fail`` op is. An info op may or may
not have happened: a write or cas with ``completion=None`` is stepped as if it
took effect; an info read has no effect and is dropped.

Knossos semantics for register and cas-register: a read whose value is None
is "unknown" and is legal in every state. The kv model is stricter because the
kv workload records a read of a missing key as an ok read of None: there the
initial value of every key is None and a read of None means "the key has no
value" (a cas against a missing key compares with None, as
impl/kv/state_machine.py does).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from harness.history.ops import Op
from spec.models.base import NO_VALUE, State, freeze


class _Nil:
    """The register's "no value" (JSON null) as a state: ``step`` returning None means illegal."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "None"

    def __reduce__(self) -> str:
        return "NIL"


NIL: Any = _Nil()


def as_value(value: Any) -> Hashable:
    """A JSON value as a register state: lists become tuples, null becomes NIL."""
    return NIL if value is None else freeze(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterModel:
    """One register per key; the state is its value (None before any write)."""

    name: str = "register"
    allow_cas: bool = False
    none_read_is_unknown: bool = True
    value_based: bool = True

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"read", "write", "cas"} if self.allow_cas else {"read", "write"})

    def init(self) -> State:
        return NIL

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None:
        f = invoke.f
        if f == "read":
            if completion is None:
                return state
            if completion.value is None and self.none_read_is_unknown:
                return state
            value = as_value(completion.value)
            return state if state == value else None
        if f == "write":
            return as_value(invoke.value)
        if f == "cas" and self.allow_cas:
            expected, new = _cas_pair(invoke)
            return new if state == expected else None
        return None

    def partition_key(self, invoke: Op) -> Hashable:
        return freeze(invoke.key)

    def is_read_only(self, invoke: Op) -> bool:
        return invoke.f == "read"

    def always_legal(self, invoke: Op, completion: Op) -> bool:
        return invoke.f == "read" and completion.value is None and self.none_read_is_unknown

    def observed_value(self, invoke: Op, completion: Op | None) -> Any:
        if invoke.f == "read" and completion is not None:
            return as_value(completion.value)
        if invoke.f == "cas" and self.allow_cas:
            return _cas_pair(invoke)[0]
        return NO_VALUE

    def produced_value(self, invoke: Op, completion: Op | None) -> Any:
        if invoke.f == "write":
            return as_value(invoke.value)
        if invoke.f == "cas" and self.allow_cas:
            return _cas_pair(invoke)[1]
        return NO_VALUE

    def describe_op(self, invoke: Op, completion: Op | None) -> str:
        where = "" if invoke.key is None else f" {invoke.key}"
        if invoke.f == "read":
            shown = "?" if completion is None else repr(completion.value)
            return f"read{where} -> {shown}"
        if invoke.f == "write":
            return f"write{where} {invoke.value!r}"
        if invoke.f == "cas":
            expected, new = _cas_pair(invoke)
            return f"cas{where} {expected!r} -> {new!r}"
        return f"{invoke.f}{where} {invoke.value!r} (not a {self.name} operation)"

    def describe_state(self, state: State) -> str:
        return f"value={state!r}"


def _cas_pair(invoke: Op) -> tuple[Hashable, Hashable]:
    value = invoke.value
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"cas op {invoke.index} needs value [expected, new], got {value!r}")
    return as_value(value[0]), as_value(value[1])


REGISTER = RegisterModel()
