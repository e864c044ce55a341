"""A counterexample's ``blocked`` op is the one its explanation proves impossible."""

from __future__ import annotations

from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType


def _history(*calls: tuple[int, str, object, object]) -> list[Op]:
    """Sequential calls (process, f, invoke value, ok value), one after another."""
    ops: list[Op] = []
    for process, f, invoked, returned in calls:
        n = len(ops)
        ops.append(Op(index=n, time=n, process=process, type=OpType.INVOKE, f=f, value=invoked))
        ops.append(
            Op(index=n + 1, time=n + 1, process=process, type=OpType.OK, f=f, value=returned)
        )
    return ops


def test_a_read_of_a_value_nobody_wrote_is_blocked_and_the_linearization_is_shown() -> None:
    result = check_linearizable(_history((0, "write", 1, 1), (1, "read", None, 7)), "register")
    assert result.verdict is Verdict.ILLEGAL
    [example] = result.counterexamples
    assert example.blocked is not None and example.blocked.index == 2
    assert "no op in the history produces 7" in example.explanation
    assert [op.index for op, _ in example.linearized] == [0]  # write 1 could go first


def test_a_proven_stale_read_is_the_blocked_op_not_the_searchs_dead_end() -> None:
    history = _history((0, "write", 1, 1), (0, "write", 2, 2), (1, "read", None, 1))
    result = check_linearizable(history, "register")
    assert result.verdict is Verdict.ILLEGAL
    [example] = result.counterexamples
    assert example.blocked is not None and example.blocked.index == 4
    assert "stale read" in example.explanation
