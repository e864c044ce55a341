"""JSON Lines: one op per line, Jepsen's field names (DESIGN.md "History format").

Reading goes line by line (never ``readlines()`` or one ``json.loads`` of the
whole file), so a history of a million ops costs the ops and nothing more.
Writing flushes after every line: when the harness dies mid-run the history
on disk is complete up to the last op it recorded, which is exactly what a
post-mortem check needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from harness.history.ops import Op
from harness.history.validate import HistoryError


def iter_jsonl_records(lines: Iterable[str], *, first_line: int = 1) -> Iterator[tuple[Any, int]]:
    """Yield ``(decoded object, line number)`` for each non-blank line.

    Raises:
        HistoryError: a line is not valid JSON, naming the line.
    """
    for line_number, text in enumerate(lines, start=first_line):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise HistoryError(
                line_number, f"unparsable JSON: {error.msg} (column {error.colno})"
            ) from None
        yield record, line_number


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return sorted(value, key=repr)
    raise TypeError(f"cannot write {type(value).__name__} to a JSON history: {value!r}")


def op_to_json_line(op: Op) -> str:
    """The JSON text of ``op`` without the newline."""
    return json.dumps(op.to_json_dict(), default=_json_default, ensure_ascii=False)


class HistoryWriter:
    """Append ops to a JSON Lines history, one flushed line per op.

    Use as a context manager (``with HistoryWriter(path) as writer:
    writer.write(op)``) or call ``close()``. ``path`` is opened for appending
    unless ``append=False``; a file object may be given instead of a path, in
    which case it is flushed but not closed.
    """

    def __init__(self, target: str | Path | IO[str], *, append: bool = True) -> None:
        if isinstance(target, str | Path):
            self._file: IO[str] = open(target, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
            self._owned = True
        else:
            self._file = target
            self._owned = False
        self.count = 0

    def write(self, op: Op) -> None:
        self._file.write(op_to_json_line(op) + "\n")
        self._file.flush()
        self.count += 1

    def write_all(self, ops: Iterable[Op]) -> None:
        for op in ops:
            self.write(op)

    def close(self) -> None:
        if self._owned and not self._file.closed:
            self._file.close()

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def write_history(path: str | Path, ops: Iterable[Op]) -> int:
    """Write ``ops`` to ``path`` as JSON Lines (replacing the file); returns the count.

    Writes through a buffered file and flushes once at the end: this is the
    bulk path (export, tests), not the crash-tolerant recording path.
    """
    count = 0
    with open(path, "w", encoding="utf-8") as file:
        for op in ops:
            file.write(op_to_json_line(op) + "\n")
            count += 1
    return count
