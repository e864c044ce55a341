"""What every sequential model offers the linearizability checker.

Theory of operation: a model is porcupine's ``Model`` in Python (STYLE.md
§7): ``init()`` gives the state before any operation, and the pure
``step(state, invoke, completion)`` returns the state after the operation took
effect, or ``None`` when the operation cannot take effect in that state with
the result it reported. ``completion`` is ``None`` for an info operation (its
outcome is unknown), so ``step`` must say what the operation would do if it
happened. States are hashable because the checker memoizes
(linearized set, state) pairs (Lowe, "Testing for linearizability", §3).

Register-like models (register, cas-register, kv) also say which value an
operation *observes* (a read's result, a cas's expected value) and which value
it *produces* (a write's or cas's new value). The checker uses that to prune
the search; see docs/checker.md for why each rule is sound. Contract for
``value_based`` models: an op that observes a value is legal only in the state
equal to that value, and the state after an op that produces a value is that
value (ops legal in every state are reported by ``always_legal`` and dropped).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from harness.history.ops import Op

State = Hashable


class _NoValue:
    """Marker for "this operation observes/produces no value"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


_ATOMS = frozenset({int, str, float, bool, type(None)})


def freeze(value: Any) -> Hashable:
    """Turn JSON values (lists, dicts) into hashable equivalents, recursively."""
    if value.__class__ in _ATOMS:
        return value
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    return value


class Model(Protocol):
    """The sequential specification of one object (or one partition of it)."""

    @property
    def name(self) -> str: ...

    @property
    def value_based(self) -> bool:
        """True: observed_value/produced_value are meaningful (see the module docstring)."""
        ...

    @property
    def operations(self) -> frozenset[str]:
        """The ``f`` values this model understands; any other is a usage error."""
        ...

    def init(self) -> State: ...

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None: ...

    def partition_key(self, invoke: Op) -> Hashable:
        """Which independent object the op touches (P-compositionality, Herlihy & Wing §3.3)."""
        ...

    def is_read_only(self, invoke: Op) -> bool:
        """True when the op can never change the state (an info read can be dropped)."""
        ...

    def always_legal(self, invoke: Op, completion: Op) -> bool:
        """True when the op is legal in every state and changes nothing (it can be dropped)."""
        ...

    def observed_value(self, invoke: Op, completion: Op | None) -> Any: ...

    def produced_value(self, invoke: Op, completion: Op | None) -> Any: ...

    def describe_op(self, invoke: Op, completion: Op | None) -> str: ...

    def describe_state(self, state: State) -> str: ...


class PlainModel:
    """Defaults for models the checker searches without value-based pruning."""

    __slots__ = ()
    value_based = False

    def partition_key(self, invoke: Op) -> Hashable:
        return freeze(invoke.key)

    def is_read_only(self, invoke: Op) -> bool:
        return False

    def always_legal(self, invoke: Op, completion: Op) -> bool:
        return False

    def observed_value(self, invoke: Op, completion: Op | None) -> Any:
        return NO_VALUE

    def produced_value(self, invoke: Op, completion: Op | None) -> Any:
        return NO_VALUE
