"""A CheckResult renders as a readable text report and as JSON-safe data."""

from __future__ import annotations

import json

from harness.check.render import render_result_text, result_to_json
from harness.check.verdict import CheckResult, Counterexample, Verdict
from harness.history.ops import Op, OpType


def _op(index: int, process: int, type_: str, f: str, value: object, time: int) -> Op:
    return Op(
        index=index, time=time, process=process, type=OpType(type_), f=f, value=value, key="k1"
    )


def illegal_result() -> CheckResult:
    """write 1 ok; write 2 ok; a later read returns 1: the read is stale."""
    w1 = (_op(0, 0, "invoke", "write", 1, 0), _op(1, 0, "ok", "write", 1, 1_000_000))
    w2 = (_op(2, 1, "invoke", "write", 2, 2_000_000), _op(3, 1, "ok", "write", 2, 3_000_000))
    read = (_op(4, 2, "invoke", "read", None, 4_000_000), _op(5, 2, "ok", "read", 1, 5_000_000))
    return CheckResult(
        checker="linearizable",
        model="register",
        verdict=Verdict.ILLEGAL,
        reasons=["read k1 -> 1 is stale"],
        counts={"ops": 6},
        counterexamples=[
            Counterexample(
                key="k1",
                window=[w1, w2, read],
                linearized=[(w1[0], "value=1"), (w2[0], "value=2")],
                stuck=[read[0]],
                explanation="read -> 1 could not take effect after write 2",
            )
        ],
        details={"parts": {("k1",): {1, 2}}},
        elapsed_s=0.25,
    )


def test_illegal_result_text_shows_window_linearization_and_stuck_op() -> None:
    """The text names the verdict, each process's ops with times, the states and the stuck op."""
    text = render_result_text(illegal_result())
    assert "INVALID" in text
    assert "process 0:" in text and "process 2:" in text
    assert '#4..#5         [0.004000s .. 0.005000s] read "k1" -> ok 1  <-- stuck' in text
    assert '1. p0 #0 write "k1" 1  => value=1' in text
    assert '2. p1 #2 write "k1" 2  => value=2' in text
    assert 'None of these can be placed next:\n    p2 #4 read "k1" (invoked at 0.004000s)' in text
    assert "read -> 1 could not take effect after write 2" in text


def test_knossos_read_with_a_value_on_its_invoke_shows_what_it_returned() -> None:
    """Knossos invokes may carry the read value; the completion's value is still printed."""
    result = illegal_result()
    read = (_op(4, 2, "invoke", "read", 1, 4_000_000), _op(5, 2, "ok", "read", 1, 5_000_000))
    result.counterexamples[0].window[2] = read
    assert 'read "k1" 1 -> ok 1' in render_result_text(result)


def test_counterexample_proved_without_search_has_no_empty_sections() -> None:
    """A value-only proof (a read of a value nobody wrote) has no linearization or stuck list
    to show; the text says so instead of printing empty headings."""
    result = illegal_result()
    example = result.counterexamples[0]
    example.linearized, example.stuck = [], []
    text = render_result_text(result)
    assert "No search was needed" in text
    assert "None of these can be placed next" not in text


def test_valid_result_text_is_a_verdict_table_without_counterexample() -> None:
    """A valid result prints the table and counts only."""
    text = render_result_text(
        CheckResult(checker="linearizable", model="kv", verdict=Verdict.OK, counts={"ops": 4})
    )
    assert "VALID" in text and "Counterexample" not in text


def test_result_to_json_is_json_safe_and_keeps_the_counterexample() -> None:
    """Tuples, sets, Ops and tuple keys become plain JSON; nothing is lost from the counterexample."""
    data = result_to_json(illegal_result())
    decoded = json.loads(json.dumps(data))
    assert decoded["verdict"] == "invalid" and decoded["exit_code"] == 1
    counterexample = decoded["counterexamples"][0]
    assert counterexample["stuck"][0]["f"] == "read"
    assert counterexample["linearized"][1]["state"] == "value=2"
    assert counterexample["window"][2]["completion"]["value"] == 1
    assert decoded["details"]["parts"] == {'["k1"]': [1, 2]}


def test_blocked_op_is_marked_even_without_stuck_ops() -> None:
    """The op the explanation is about is marked in the text, the JSON and the timeline."""
    from harness.report.timeline import render_timeline

    result = illegal_result()
    example = result.counterexamples[0]
    read_invoke = example.window[2][0]
    example.linearized, example.stuck, example.blocked = [], [], read_invoke
    text = render_result_text(result)
    assert 'read "k1" -> ok 1  <-- cannot take effect' in text
    assert result_to_json(result)["counterexamples"][0]["blocked"]["index"] == 4
    ops = [op for pair in example.window for op in pair if op is not None]
    page = render_timeline(ops, title="t", counterexample=example)
    assert page.count('<rect class="op ok in-window stuck"') == 1


def test_a_reason_that_is_a_counterexample_explanation_is_printed_once() -> None:
    result = illegal_result()
    result.reasons = [
        "read -> 1 could not take effect after write 2",
        "key 'k9': timeout after 1 s",
    ]
    text = render_result_text(result)
    assert text.count("read -> 1 could not take effect after write 2") == 1
    assert "- key 'k9': timeout after 1 s" in text
