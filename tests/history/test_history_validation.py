"""Malformed histories are refused with an error naming the offending line."""

from __future__ import annotations

import io

import pytest

from harness.history import HistoryError, read_history

VALID_PREFIX = [
    '{"process": 0, "time": 1, "type": "invoke", "f": "write", "value": 1}',
    '{"process": 0, "time": 2, "type": "ok", "f": "write", "value": 1}',
]

CASES = {
    "completion_without_invoke": (
        ['{"process": 3, "time": 3, "type": "ok", "f": "read", "value": 1}'],
        "completion 'ok' for process 3 without an open invoke",
    ),
    "two_open_invokes": (
        [
            '{"process": 1, "time": 3, "type": "invoke", "f": "read"}',
            '{"process": 1, "time": 4, "type": "invoke", "f": "read"}',
        ],
        "second invoke for process 1 while its invoke on line 3 is still open",
    ),
    "process_reused_after_info": (
        [
            '{"process": 2, "time": 3, "type": "invoke", "f": "write", "value": 2}',
            '{"process": 2, "time": 4, "type": "info", "f": "write", "value": 2}',
            '{"process": 2, "time": 5, "type": "invoke", "f": "read"}',
        ],
        "process 2 is used again after its info on line 4",
    ),
    "unknown_type": (
        ['{"process": 1, "time": 3, "type": "done", "f": "read"}'],
        "unknown type 'done'",
    ),
    "unparsable_json": (
        ['{"process": 1, "time": 3, "type": "invoke", "f": "read"'],
        "unparsable JSON",
    ),
    "missing_required_field": (
        ['{"process": 1, "type": "invoke", "f": "read"}'],
        "missing required field 'time'",
    ),
    "f_mismatch": (
        [
            '{"process": 1, "time": 3, "type": "invoke", "f": "read"}',
            '{"process": 1, "time": 4, "type": "ok", "f": "write", "value": 1}',
        ],
        "completion f 'write' does not match f 'read' of the invoke on line 3",
    ),
    "missing_f": (
        ['{"process": 1, "time": 3, "type": "invoke", "value": 1}'],
        "missing required field 'f'",
    ),
    "process_of_wrong_type": (
        ['{"process": [1], "time": 3, "type": "invoke", "f": "read"}'],
        "process must be an integer or a string",
    ),
    "time_of_wrong_type": (
        ['{"process": 1, "time": "soon", "type": "invoke", "f": "read"}'],
        "time must be an integer",
    ),
    "index_of_wrong_type": (
        ['{"index": "a", "process": 1, "time": 3, "type": "invoke", "f": "read"}'],
        "index must be an integer",
    ),
    "f_of_wrong_type": (
        ['{"process": 1, "time": 3, "type": "invoke", "f": 7}'],
        "f must be a string",
    ),
    "not_an_object": (["[1, 2, 3]"], "expected an object/map per op, got list"),
    "garbage_line": (["garbage"], "unparsable JSON"),
    "completion_before_its_invoke": (
        [
            '{"process": 1, "time": 9, "type": "invoke", "f": "read"}',
            '{"process": 1, "time": 8, "type": "ok", "f": "read", "value": 1}',
        ],
        "completion at time 8 is earlier than its invoke at time 9 on line 3",
    ),
    "repeated_index": (
        [
            '{"index": 5, "process": 1, "time": 3, "type": "invoke", "f": "read"}',
            '{"index": 5, "process": 1, "time": 4, "type": "ok", "f": "read", "value": 1}',
        ],
        "index 5 is not greater than index 5 on line 3",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_history_error_names_the_offending_line(case: str) -> None:
    """Each textbook breakage is reported on the last line of the case, with its reason."""
    tail, reason = CASES[case]
    text = "\n".join(VALID_PREFIX + tail) + "\n"
    with pytest.raises(HistoryError) as raised:
        read_history(io.StringIO(text))
    expected_line = len(VALID_PREFIX) + len(tail)
    assert raised.value.line == expected_line
    assert str(raised.value).startswith(f"line {expected_line}: ")
    assert reason in str(raised.value)


def test_blank_lines_count_towards_line_numbers() -> None:
    """Line numbers are those an editor shows, blank lines included."""
    text = VALID_PREFIX[0] + "\n\n\n" + '{"process": 5, "time": 9, "type": "ok", "f": "x"}\n'
    with pytest.raises(HistoryError) as raised:
        read_history(io.StringIO(text))
    assert raised.value.line == 4


def test_edn_errors_name_the_line_too() -> None:
    """The EDN reader names the line where the offending map starts."""
    text = (
        "{:process 0, :type :invoke, :f :read}\n"
        "{:process 0, :type :ok, :f :read, :value 1}\n"
        "{:process 0,\n :type :ok, :f :read, :value 1}\n"
    )
    with pytest.raises(HistoryError) as raised:
        read_history(io.StringIO(text))
    assert raised.value.line == 3
    assert "without an open invoke" in str(raised.value)


def test_unbalanced_edn_names_the_opening_line() -> None:
    """An unclosed map is reported where it was opened."""
    text = "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok\n"
    with pytest.raises(HistoryError) as raised:
        read_history(io.StringIO(text))
    assert raised.value.line == 2
    assert "never closed" in str(raised.value)


def test_well_formed_history_with_open_invoke_and_nemesis_is_accepted() -> None:
    """An invoke that never completed and the nemesis's unpaired infos are legal."""
    text = "\n".join(
        [
            *VALID_PREFIX,
            '{"process": "nemesis", "time": 3, "type": "info", "f": "start", "value": null}',
            '{"process": 1, "time": 4, "type": "invoke", "f": "read"}',
        ]
    )
    ops = read_history(io.StringIO(text))
    assert [(o.process, o.type.value) for o in ops] == [(0, "invoke"), (0, "ok"), (1, "invoke")]
    with_nemesis = read_history(io.StringIO(text), keep_nemesis=True)
    assert len(with_nemesis) == 4


def test_validation_can_be_switched_off() -> None:
    """validate=False reads a broken history as is (for forensics)."""
    text = '{"process": 3, "time": 3, "type": "ok", "f": "read", "value": 1}\n'
    assert len(read_history(io.StringIO(text), validate=False)) == 1


def test_missing_index_takes_the_position_in_the_history() -> None:
    """index is optional on input; the op's position is used."""
    ops = read_history(io.StringIO("\n".join(VALID_PREFIX)))
    assert [o.index for o in ops] == [0, 1]


def test_bytes_that_are_not_utf8_name_their_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A binary or mis-encoded file is an error on the line with the bad byte, not a traceback."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(("\n".join(VALID_PREFIX) + "\n").encode() + b'{"f": "\xff"}\n')
    with pytest.raises(HistoryError, match=r"^line 3: not UTF-8 text \(byte 0xff"):
        read_history(path)


def test_a_leading_byte_order_mark_is_ignored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Editors on Windows save UTF-8 with a BOM; the history still reads."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(VALID_PREFIX) + "\n").encode())
    assert len(read_history(path)) == 2


EDN_CASES = {
    "unknown_type_keyword": ("{:process 0, :type :frob, :f :read}", 2, "unknown type 'frob'"),
    "odd_map": ("{:process 0, :type :ok, :f :read, :value}", 2, "even number of forms"),
    "wrong_closer": ("{:process 0, :type :ok, :f :read, :value 1)", 2, "')' closes '{'"),
    "unterminated_string": ('{:process 0, :type :ok, :f :read, :value "abc}', 2, "cannot read EDN"),
    "not_a_map": ("42", 2, "expected an object/map per op, got int"),
    "missing_f": ("{:process 0, :type :ok}", 2, "missing required field 'f'"),
}


@pytest.mark.parametrize("case", sorted(EDN_CASES))
def test_malformed_edn_names_the_offending_line(case: str) -> None:
    """Broken EDN (as a hand-edited or truncated history.edn would be) names its line."""
    second, line, reason = EDN_CASES[case]
    text = "{:process 0, :type :invoke, :f :read, :value nil}\n" + second + "\n"
    with pytest.raises(HistoryError) as raised:
        read_history(io.StringIO(text), format="edn")
    assert raised.value.line == line, str(raised.value)
    assert reason in str(raised.value)


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_windows_and_old_mac_line_ends_read_with_the_right_line_numbers(
    tmp_path,
    newline: str,  # type: ignore[no-untyped-def]
) -> None:
    """A history saved with CRLF or CR line ends reads, and errors still name the line."""
    path = tmp_path / "history.jsonl"
    broken = '{"process": 7, "time": 9, "type": "ok", "f": "read", "value": 1}'
    path.write_bytes(newline.join([*VALID_PREFIX, broken]).encode() + newline.encode())
    with pytest.raises(HistoryError, match=r"^line 3: completion 'ok' for process 7"):
        read_history(path)
    path.write_bytes(newline.join(VALID_PREFIX).encode() + newline.encode())
    assert len(read_history(path)) == 2
