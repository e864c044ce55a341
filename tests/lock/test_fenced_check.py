"""harness/check/fenced.py: lost appends and backwards tokens are found; a clean history passes."""

from __future__ import annotations

from typing import Any

from harness.check.fenced import check_fenced
from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType
from harness.workloads.lock import hold_bars


class History:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def add(
        self,
        process: int,
        type_: OpType,
        f: str,
        key: Any,
        value: Any = None,
        *,
        time: int | None = None,
    ) -> None:
        index = len(self.ops)
        stamp = index * 10 if time is None else time
        self.ops.append(
            Op(index=index, time=stamp, process=process, type=type_, f=f, key=key, value=value)
        )

    def append(
        self, process: int, key: str, element: int, token: int | None, outcome: OpType = OpType.OK
    ) -> None:
        self.add(process, OpType.INVOKE, "append", key, element)
        value = {"element": element, "token": token} if outcome is OpType.OK else None
        self.add(process, outcome, "append", key, value)

    def final_read(self, key: str, entries: list[list[int]]) -> None:
        self.add(99, OpType.INVOKE, "read", key)
        self.add(99, OpType.OK, "read", key, entries)


def test_every_acknowledged_append_present_with_rising_tokens_is_valid() -> None:
    """Nothing lost, tokens increase in real-time order: valid; an info append that landed is 'recovered'."""
    history = History()
    history.append(1, "f1", 1, 10)
    history.append(2, "f1", 2, 12)
    history.append(3, "f1", 3, None, OpType.INFO)
    history.final_read("f1", [[10, 1], [12, 2], [13, 3]])
    result = check_fenced(history.ops)
    assert result.verdict is Verdict.OK, result.reasons
    assert result.counts["recovered"] == 1 and result.counts["lost"] == 0


def test_acknowledged_append_missing_from_the_final_read_is_lost() -> None:
    """Jepsen set-full: an ok append that the final read lacks makes the history invalid."""
    history = History()
    history.append(1, "f1", 1, 10)
    history.append(2, "f1", 2, 12)
    history.final_read("f1", [[10, 1]])
    result = check_fenced(history.ops)
    assert result.verdict is Verdict.ILLEGAL
    assert result.details["lost"] == {"f1": [2]}


def test_token_going_backwards_in_real_time_order_is_invalid() -> None:
    """An append invoked after another completed must carry a larger token."""
    history = History()
    history.append(1, "f1", 1, 12)
    history.append(2, "f1", 2, 10)
    history.final_read("f1", [[12, 1], [10, 2]])
    result = check_fenced(history.ops)
    assert result.verdict is Verdict.ILLEGAL
    assert any("token" in reason for reason in result.reasons)


def test_element_nobody_appended_is_unexpected() -> None:
    """A final value naming an element never attempted is invalid."""
    history = History()
    history.append(1, "f1", 1, 10)
    history.final_read("f1", [[10, 1], [11, 77]])
    assert check_fenced(history.ops).details["unexpected"] == {"f1": [77]}


def test_no_final_read_is_unknown_not_valid() -> None:
    """Without the final read nothing can be verified: unknown, never a silent pass."""
    history = History()
    history.append(1, "f1", 1, 10)
    assert check_fenced(history.ops).verdict is Verdict.UNKNOWN


def test_hold_bars_run_from_ok_acquire_to_release_invoke() -> None:
    """Timeline bars: one per hold; an unreleased hold lasts to the end of the history."""
    history = History()
    history.add(1, OpType.INVOKE, "acquire", "x", {"owner": "p1", "mode": "exclusive"}, time=0)
    history.add(1, OpType.OK, "acquire", "x", {"owner": "p1", "token": 3}, time=5)
    history.add(1, OpType.INVOKE, "release", "x", {"owner": "p1", "token": 3}, time=20)
    history.add(1, OpType.OK, "release", "x", {"owner": "p1", "token": 3}, time=25)
    history.add(2, OpType.INVOKE, "acquire", "y", {"owner": "p2", "mode": "shared"}, time=30)
    history.add(2, OpType.OK, "acquire", "y", {"owner": "p2", "token": 4}, time=40)
    assert hold_bars(history.ops) == [("x", "p1", 5, 20), ("y", "p2", 40, 40)]
