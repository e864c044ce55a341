"""A faster ``__init__`` for the frozen, slotted, keyword-only dataclasses of the hot path.

Theory of operation: messages, events and effects are built for every
message a node handles, and a frozen dataclass's generated ``__init__``
stores each field through ``object.__setattr__``, looked up anew on every
call; in the simulator that made building these records a tenth of the run.
``fast_init`` replaces ``__init__`` with an equivalent one, generated from
``dataclasses.fields``: the same keyword-only signature and defaults, each
field stored through its slot's own descriptor (bound once). Nothing else
changes: the class is still the dataclass it was (``fields``, ``replace``,
``__eq__``, ``__hash__``, ``__repr__``), and assigning to a field after
construction still raises ``FrozenInstanceError``.

Rules:
  Rule 1. Only for ``@dataclass(frozen=True, slots=True, kw_only=True)``
          classes whose fields all take part in ``__init__``, without
          ``default_factory`` or ``__post_init__``; anything else is refused
          at import time, never silently mishandled.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give ``cls`` an ``__init__`` equivalent to its dataclass one, only faster (Rule 1)."""
    params = getattr(cls, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{cls.__name__} is not a frozen dataclass"
    assert "__slots__" in cls.__dict__, f"{cls.__name__} has no slots"
    assert not hasattr(cls, "__post_init__"), f"{cls.__name__} has __post_init__"
    namespace: dict[str, Any] = {}
    params_src, body = [], []
    for position, spec in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        assert spec.init and spec.kw_only, f"{cls.__name__}.{spec.name} is not keyword-only"
        assert spec.default_factory is dataclasses.MISSING, f"{cls.__name__}.{spec.name}"
        setter = f"_set{position}"
        namespace[setter] = cls.__dict__[spec.name].__set__
        if spec.default is dataclasses.MISSING:
            params_src.append(spec.name)
        else:
            namespace[f"_default{position}"] = spec.default
            params_src.append(f"{spec.name}=_default{position}")
        body.append(f"    {setter}(self, {spec.name})")
    source = f"def __init__(self, *, {', '.join(params_src)}):\n" + ("\n".join(body) or "    pass")
    if not params_src:
        source = "def __init__(self):\n    pass"
    exec(source, namespace)  # generated from the class's own field names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
