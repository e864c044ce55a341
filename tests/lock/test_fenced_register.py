"""The fenced register refuses stale tokens (impl/fenced, Rules 1-4)."""

from __future__ import annotations

from typing import Any

from impl.fenced import FencedStateMachine
from impl.statemachine import Command


def _apply(machine: FencedStateMachine, index: int, op: dict[str, Any]) -> Any:
    return machine.apply(index, Command(service="fenced", op=op, stamp_ms=0))


def test_write_with_a_lower_token_than_seen_is_fenced() -> None:
    """Rule 1: after token 7 was accepted, token 5 is refused and the value is unchanged."""
    machine = FencedStateMachine()
    assert _apply(machine, 1, {"f": "write", "key": "k", "value": [1], "token": 7}) == {
        "ok": True,
        "token": 7,
    }
    assert _apply(machine, 2, {"f": "write", "key": "k", "value": [2], "token": 5}) == {
        "ok": False,
        "error": "fenced",
        "highest": 7,
    }
    assert machine.query({"f": "read", "key": "k"}) == {"ok": True, "value": [1], "token": 7}


def test_equal_token_is_the_same_holder_and_is_accepted() -> None:
    """Rule 2: the current holder may read and write again with its token."""
    machine = FencedStateMachine()
    _apply(machine, 1, {"f": "write", "key": "k", "value": 1, "token": 3})
    assert _apply(machine, 2, {"f": "write", "key": "k", "value": 2, "token": 3})["ok"]


def test_fenced_read_shuts_out_the_stale_holders_write() -> None:
    """Rule 3: once the new holder has read with its token, the paused old holder cannot write."""
    machine = FencedStateMachine()
    _apply(machine, 1, {"f": "write", "key": "k", "value": ["a"], "token": 10})
    assert _apply(machine, 2, {"f": "read", "key": "k", "token": 20})["value"] == ["a"]
    assert (
        _apply(machine, 3, {"f": "write", "key": "k", "value": ["a", "stale"], "token": 10})[
            "error"
        ]
        == "fenced"
    )
    assert _apply(machine, 4, {"f": "write", "key": "k", "value": ["a", "new"], "token": 20})["ok"]


def test_plain_query_does_not_raise_the_fence() -> None:
    """Rule 4: observers reading without a token do not fence anyone out."""
    machine = FencedStateMachine()
    _apply(machine, 1, {"f": "write", "key": "k", "value": 1, "token": 4})
    machine.query({"f": "read", "key": "k"})
    assert _apply(machine, 2, {"f": "write", "key": "k", "value": 2, "token": 4})["ok"]


def test_malformed_fenced_op_names_the_field() -> None:
    """Service contract Rule 1: bad input is an error result, never an exception."""
    machine = FencedStateMachine()
    assert (
        _apply(machine, 1, {"f": "write", "key": "k", "value": 1, "token": "9"})["field"] == "token"
    )
    assert _apply(machine, 2, {"f": "write", "key": "k", "token": 9})["field"] == "value"
    assert _apply(machine, 3, {"f": "read", "key": 5, "token": 9})["field"] == "key"


def test_fenced_snapshot_round_trips() -> None:
    """Service contract Rule 3: restore(snapshot()) reproduces values and fences."""
    machine = FencedStateMachine()
    _apply(machine, 1, {"f": "write", "key": "k", "value": {"x": [1, 2]}, "token": 4})
    _apply(machine, 2, {"f": "read", "key": "j", "token": 9})
    copy = FencedStateMachine()
    copy.restore(machine.snapshot())
    assert (copy.values, copy.highest) == (machine.values, machine.highest)
