"""The durability audit and the planted stale read each detect what they claim to."""

from __future__ import annotations

from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType
from harness.run.analysis import check_history
from harness.run.audit import lost_acknowledged_writes
from harness.run.mutations import plant_stale_read


def history(rows: list[tuple[int, str, str, object, int]]) -> list[Op]:
    """rows: (process, type, f, value, time); all on key k1."""
    return [
        Op(index=index, time=time, process=process, type=OpType(kind), f=f, value=value, key="k1")
        for index, (process, kind, f, value, time) in enumerate(rows)
    ]


ACKED_THEN_READ = [
    (0, "invoke", "write", 1, 0),
    (0, "ok", "write", 1, 1),
    (0, "invoke", "write", 2, 2),
    (0, "ok", "write", 2, 3),
]


def test_final_read_of_the_last_acknowledged_write_loses_nothing() -> None:
    ops = history([*ACKED_THEN_READ, (1, "invoke", "read", None, 4), (1, "ok", "read", 2, 5)])
    assert lost_acknowledged_writes(ops) == []


def test_final_read_of_an_overwritten_value_reports_the_lost_write() -> None:
    """Write 1 then write 2 both acked; reading 1 afterwards means write 2 was lost."""
    ops = history([*ACKED_THEN_READ, (1, "invoke", "read", None, 4), (1, "ok", "read", 1, 5)])
    (lost,) = lost_acknowledged_writes(ops)
    assert lost.acknowledged_value == 2 and lost.final_value == 1


def test_final_read_of_nothing_after_an_acknowledged_write_is_a_loss() -> None:
    ops = history(
        [*ACKED_THEN_READ[:2], (1, "invoke", "read", None, 4), (1, "ok", "read", None, 5)]
    )
    assert [lost.acknowledged_value for lost in lost_acknowledged_writes(ops)] == [1]


def test_a_later_unacknowledged_write_may_explain_the_final_value() -> None:
    """An info write invoked after the acked one may have taken effect: not a loss."""
    ops = history(
        [*ACKED_THEN_READ, (2, "invoke", "write", 3, 3), (2, "info", "write", None, 6),
         (1, "invoke", "read", None, 7), (1, "ok", "read", 3, 8)]
    )  # fmt: skip
    assert lost_acknowledged_writes(ops) == []


def test_planted_stale_read_turns_a_valid_history_invalid() -> None:
    """The checker accepts the real history and rejects it with one read made stale."""
    ops = history([*ACKED_THEN_READ, (1, "invoke", "read", None, 4), (1, "ok", "read", 2, 5)])
    assert check_history(ops, "kv", timeout_s=10).verdict is Verdict.OK
    planted = plant_stale_read(ops)
    assert planted is not None
    mutated, description = planted
    assert "from 2 to the overwritten 1" in description
    assert check_history(mutated, "kv", timeout_s=10).verdict is Verdict.ILLEGAL


def test_no_plant_without_an_overwritten_value() -> None:
    ops = history(
        [
            (0, "invoke", "write", 1, 0),
            (0, "ok", "write", 1, 1),
            (1, "invoke", "read", None, 2),
            (1, "ok", "read", 1, 3),
        ]
    )
    assert plant_stale_read(ops) is None
