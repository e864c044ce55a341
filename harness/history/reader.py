"""Read a history from JSON Lines or Jepsen EDN, validating as it streams.

The format is chosen by extension (``.edn`` -> EDN, ``.jsonl``/``.json`` ->
JSON Lines) and otherwise by the first non-blank line: a JSON object starts
``{"``, while EDN starts with ``[``, ``(``, ``#``, ``;`` or a map ``{:``.
Everything is lazy: ``iter_history`` pulls one line at a time from the file,
so memory holds the ops already yielded and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import IO

from harness.history.edn import iter_edn_forms
from harness.history.jsonl import iter_jsonl_records
from harness.history.ops import Op
from harness.history.record import op_from_record
from harness.history.validate import NEMESIS_PROCESS, HistoryError, HistoryValidator

Source = str | Path | IO[str]
_CR_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # not splitlines: JSON may hold U+2028


def iter_history(
    source: Source,
    *,
    format: str | None = None,
    validate: bool = True,
    split_keys: bool = False,
    keep_nemesis: bool = False,
) -> Iterator[Op]:
    """Yield the ops of a history file one at a time.

    Args:
        source: a path, or a text file object (read line by line, not closed).
        format: "jsonl" or "edn"; detected when None (see module docstring).
        validate: check the invoke/complete rules of ``harness.history.validate``
            while streaming; the first broken rule raises.
        split_keys: split Jepsen independent ``[key value]`` values into
            ``Op.key``/``Op.value`` (see docs/history-format.md).
        keep_nemesis: also yield ops of the ``nemesis`` process (Jepsen logs
            faults in the history); checkers want client ops only, so the
            default drops them after validation.

    Raises:
        HistoryError: the first malformed line or broken rule, naming the line.
        OSError: the file cannot be opened.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if format is None:
            suffix = path.suffix.lower()
            format = {".edn": "edn", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix)
        with open(path, "rb") as binary:
            yield from _iter_file(
                _decoded_lines(binary), format, validate, split_keys, keep_nemesis
            )
    else:
        yield from _iter_file(source, format, validate, split_keys, keep_nemesis)


def read_history(source: Source, **options: object) -> list[Op]:
    """All ops of a history as a list; same options and errors as ``iter_history``."""
    return list(iter_history(source, **options))  # type: ignore[arg-type]


def detect_format(first_text: str) -> str:
    """ "edn" or "jsonl" for a history whose first non-blank line is ``first_text``."""
    text = first_text.lstrip().lstrip("\ufeff")
    if text.startswith("{"):
        return "edn" if text[1:].lstrip().startswith(":") else "jsonl"
    return "edn" if text[:1] in ("[", "(", "#", ";") else "jsonl"


def _decoded_lines(binary: IO[bytes]) -> Iterator[str]:
    """The lines of a UTF-8 file, one at a time; bytes that are not UTF-8 name their line.

    Decoding per line (not per 8 KiB block, as a text-mode file does) is what
    lets the error say which line is broken. A leading byte-order mark is dropped.
    """
    for number, raw in enumerate(binary, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise HistoryError(
                number,
                f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1}); "
                "is this a history file?",
            ) from None
        if "\r" in text.rstrip("\r\n"):  # old Mac line ends: split as a text-mode file would
            yield from _CR_LINES.findall(text)
        else:
            yield text


def _iter_file(
    file: Iterable[str],
    format: str | None,
    validate: bool,
    split_keys: bool,
    keep_nemesis: bool,
) -> Iterator[Op]:
    leading: list[str] = []
    file = iter(file)
    lines: Iterable[str] = file
    if format is None:
        for text in file:
            leading.append(text)
            if text.strip():
                break
        format = detect_format(leading[-1]) if leading else "jsonl"
        lines = chain(leading, file)
    if format == "edn":
        records = iter_edn_forms(lines)
        time_required = False
    elif format == "jsonl":
        records = iter_jsonl_records(lines)
        time_required = True
    else:
        raise ValueError(f"unknown history format {format!r} (use 'jsonl' or 'edn')")
    validator = HistoryValidator() if validate else None
    for position, (record, line) in enumerate(records):
        op = op_from_record(
            record, position=position, line=line, time_required=time_required, split_keys=split_keys
        )
        if validator is not None:
            validator.feed(op, line)
        if keep_nemesis or op.process != NEMESIS_PROCESS:
            yield op
