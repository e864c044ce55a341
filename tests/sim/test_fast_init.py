"""``fast_init`` (impl/raft/fastinit.py) keeps every message, event and effect the same dataclass.

The simulator builds these records for every message, so their ``__init__``
is replaced by a faster one; this checks that nothing but the speed changed.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import pytest

from impl.raft import effects, events, messages
from impl.raft.fastinit import fast_init

CLASSES = [
    cls
    for module in (messages, events, effects)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
]


def test_every_record_of_the_hot_path_uses_it() -> None:
    assert len(CLASSES) == 24
    assert all(cls.__init__.__code__.co_filename == "<string>" for cls in CLASSES)
    assert all(
        "_set0" in cls.__init__.__globals__ or not dataclasses.fields(cls) for cls in CLASSES
    )


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_signature_values_and_frozenness_are_the_dataclass_ones(cls: type) -> None:
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, spec in zip(parameters, fields, strict=True):
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        expected = inspect.Parameter.empty if spec.default is dataclasses.MISSING else spec.default
        assert parameter.default is expected
    values = {f.name: object() for f in fields}
    record = cls(**values)
    assert all(getattr(record, name) is value for name, value in values.items())
    assert record == cls(**values) and dataclasses.replace(record) == record
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, fields[0].name, 1)
        with pytest.raises(TypeError):
            cls(*values.values())
        with pytest.raises(TypeError):
            cls()


def test_classes_it_cannot_handle_are_refused() -> None:
    @dataclass(slots=True, kw_only=True)
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    for cls in (Mutable, Factory):
        with pytest.raises(AssertionError):
            fast_init(cls)
