"""Jepsen's total-queue categories, one textbook case each (harness/check/total_queue.py)."""

from __future__ import annotations

import json

import pytest

from harness.check.render import result_to_json
from harness.check.total_queue import check_total_queue
from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType

_index = iter(range(10**6))


def _op(process: int, type_: str, f: str, value: object) -> Op:
    index = next(_index)
    return Op(index=index, time=index, process=process, type=OpType(type_), f=f, value=value)


def enqueue(process: int, value: object, outcome: str = "ok") -> list[Op]:
    return [_op(process, "invoke", "enqueue", value), _op(process, outcome, "enqueue", value)]


def dequeue(process: int, value: object) -> list[Op]:
    return [_op(process, "invoke", "dequeue", None), _op(process, "ok", "dequeue", value)]


def drain(process: int, values: list[object]) -> list[Op]:
    return [_op(process, "invoke", "drain", None), _op(process, "ok", "drain", values)]


def test_every_acknowledged_message_dequeued_is_valid() -> None:
    """Nothing lost, nothing unexpected: valid; an empty dequeue (None) is not a message."""
    history = enqueue(0, 1) + enqueue(1, 2) + dequeue(0, 1) + dequeue(0, None) + drain(2, [2])
    result = check_total_queue(history)
    assert result.verdict is Verdict.OK
    assert result.counts["attempted"] == 2
    assert result.counts["acknowledged"] == 2
    assert result.counts["dequeued"] == 2
    assert result.counts["lost"] == 0


def test_acknowledged_message_never_dequeued_is_lost() -> None:
    """An ok enqueue whose message never comes out is lost: invalid."""
    result = check_total_queue(enqueue(0, 1) + enqueue(0, 2) + dequeue(1, 1))
    assert result.verdict is Verdict.ILLEGAL
    assert result.counts["lost"] == 1
    assert result.details["lost"] == [2]
    assert any("never dequeued" in reason and "2" in reason for reason in result.reasons)


def test_dead_lettered_message_is_not_lost() -> None:
    """A message moved to the dead-letter queue on purpose is accounted for."""
    result = check_total_queue(enqueue(0, 1) + enqueue(0, 2) + dequeue(1, 1), dead_lettered=[2])
    assert result.verdict is Verdict.OK
    assert result.counts["dead-lettered"] == 1
    assert result.counts["lost"] == 0


def test_message_never_attempted_is_unexpected() -> None:
    """A dequeued value that no enqueue attempted came from nowhere: invalid."""
    result = check_total_queue(enqueue(0, 1) + dequeue(1, 1) + dequeue(1, 99))
    assert result.verdict is Verdict.ILLEGAL
    assert result.counts["unexpected"] == 1
    assert result.details["unexpected"] == [99]


def test_redelivered_message_is_duplicated_but_valid() -> None:
    """At-least-once delivery may hand a message out twice: reported, still valid."""
    result = check_total_queue(enqueue(0, 1) + dequeue(1, 1) + dequeue(2, 1))
    assert result.verdict is Verdict.OK
    assert result.counts["duplicated"] == 1
    assert any("extra deliveries" in reason for reason in result.reasons)


def test_info_enqueue_that_came_out_is_recovered() -> None:
    """An enqueue with unknown outcome whose message was dequeued did happen: recovered."""
    result = check_total_queue(enqueue(0, 7, "info") + enqueue(1, 8, "info") + dequeue(2, 7))
    assert result.verdict is Verdict.OK
    assert result.counts["recovered"] == 1
    assert result.details["recovered"] == [7]
    assert result.counts["lost"] == 0  # 8 was never acknowledged, so it may be lost


def test_json_messages_are_compared_by_value_and_result_is_json_safe() -> None:
    """Messages that are JSON objects compare by content; results.json can hold the result."""
    body = {"id": "m1", "payload": [1, 2]}
    result = check_total_queue(enqueue(0, body) + dequeue(1, {"payload": [1, 2], "id": "m1"}))
    assert result.verdict is Verdict.OK
    lost = check_total_queue(enqueue(0, body))
    assert lost.details["lost"] == [[["id", "m1"], ["payload", [1, 2]]]]
    json.dumps(result_to_json(lost))


def test_history_without_queue_ops_is_unknown_not_valid() -> None:
    """A register history given to total-queue checks nothing; that must not read as VALID."""
    ops = [
        Op(index=0, time=0, process=0, type=OpType.INVOKE, f="write", value=1),
        Op(index=1, time=1, process=0, type=OpType.OK, f="write", value=1),
    ]
    result = check_total_queue(ops)
    assert result.verdict is Verdict.UNKNOWN
    assert any("nothing was checked" in reason for reason in result.reasons)


def test_lost_without_a_drain_says_the_drain_is_missing() -> None:
    """Messages left in the queue look lost when the run never drained it; the reason says so."""
    ops = [
        Op(index=0, time=0, process=0, type=OpType.INVOKE, f="enqueue", value=1),
        Op(index=1, time=1, process=0, type=OpType.OK, f="enqueue", value=1),
    ]
    result = check_total_queue(ops)
    assert result.verdict is Verdict.ILLEGAL
    assert any("no completed drain" in reason for reason in result.reasons)


def test_drain_value_that_is_not_a_list_is_a_value_error() -> None:
    ops = [
        Op(index=0, time=0, process=0, type=OpType.INVOKE, f="drain"),
        Op(index=1, time=1, process=0, type=OpType.OK, f="drain", value=5),
    ]
    with pytest.raises(ValueError, match="op 1: a drain's ok value must be the list"):
        check_total_queue(ops)
