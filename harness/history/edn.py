"""A small streaming EDN reader and an EDN writer, enough for Jepsen histories.

Theory of operation: Jepsen writes ``history.edn`` as one op map per line,
Knossos test data as one top-level vector of maps, and newer Jepsen prefixes
maps with tags such as ``#jepsen.history.Op``. The reader tokenizes line by
line with one regular expression and assembles values on an explicit stack,
so it never holds more than one op's text: when the top-level form is a vector
or list, each of its elements is yielded as soon as it is complete, with the
line it started on.

Mapping (EDN -> Python): keyword ``:cas`` -> ``"cas"`` (namespaced ``:a/b`` ->
``"a/b"``), ``nil`` -> ``None``, ``true``/``false`` -> bool, integers (``N``
suffix allowed) -> int, floats (``M`` suffix allowed) and ratios -> float,
strings -> str, vectors and lists -> list, maps -> dict (unhashable keys become
tuples), sets ``#{}`` -> sorted list (JSON has no set), symbols -> str,
characters -> str. Tags (``#jepsen.history.Op``, ``#inst``, ``#uuid``) are
dropped and the tagged value is kept; ``#_`` discards the next form; commas are
whitespace; ``;`` starts a comment.

The writer emits what Jepsen reads: one map per line, ``:type`` and ``:f`` as
keywords, ``nil`` for ``None``, vectors for lists.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.history.ops import Op
from harness.history.validate import HistoryError

_TOKEN = re.compile(
    r"""
    (?:[\s,]+|;[^\n]*|\#[A-Za-z][^\s,\[\]\(\)\{\}"]*)*+  # possessive: skipped: whitespace, commas, comments, tags
    (?:
     (?P<string>"(?:[^"\\]|\\.)*")
    |(?P<open>\#\{|[\[\(\{])
    |(?P<close>[\]\)\}])
    |(?P<discard>\#_)
    |(?P<char>\\(?:newline|space|tab|return|u[0-9a-fA-F]{4}|.))
    |(?P<atom>[^\s,\[\]\(\)\{\}";]+)
    )
    """,
    re.VERBOSE,
)
_SKIP = re.compile(r"""(?:[\s,]+|;[^\n]*|\#[A-Za-z][^\s,\[\]\(\)\{\}"]*)*""")
_INTEGER = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_KEYWORD_SAFE = re.compile(r"[A-Za-z*+!_?<>=-][A-Za-z0-9*+!_?<>=./:#-]*")


@dataclass(slots=True)
class _LineCounter:
    """The line of a position in ``text``, counting newlines only since the last position
    asked (tokens come in order), so a whole history on one line is read in linear time
    (counting from the start for every token made a 1 MB one-line file take 22 s)."""

    text: str
    line: int
    counted_to: int = 0

    def at(self, position: int) -> int:
        self.line += self.text.count("\n", self.counted_to, position)
        self.counted_to = position
        return self.line


@dataclass(slots=True)
class _Frame:
    opener: str
    line: int
    items: list[Any] = field(default_factory=list)
    discards: int = 0


def iter_edn_forms(lines: Iterable[str], *, first_line: int = 1) -> Iterator[tuple[Any, int]]:
    """Yield ``(value, line)`` for each op-level form of an EDN text.

    Top-level maps are yielded as they complete. A top-level vector or list is
    opened, not built: its elements are yielded one by one. ``line`` is the
    1-based line where the yielded form starts.

    Raises:
        HistoryError: unbalanced brackets, an odd number of forms in a map, or
            an unterminated string, naming the line.
    """
    stack: list[_Frame] = []
    streamed_top = False  # inside the one top-level vector/list whose items we yield
    top_discards = 0
    line_number = first_line - 1
    buffer = ""
    buffer_line = first_line
    for raw in lines:
        line_number += 1
        if not buffer:
            buffer_line = line_number
        buffer += raw if raw.endswith("\n") else raw + "\n"
        position = 0
        lines_of = _LineCounter(buffer, buffer_line)
        while True:
            match = _TOKEN.match(buffer, position)
            if match is None:
                break  # only blanks left, or an unterminated string: read the next line
            kind = match.lastgroup
            assert kind is not None
            text = match.group(kind)
            token_start = match.start(kind)
            position = match.end()
            if kind == "discard":
                if stack:
                    stack[-1].discards += 1
                else:
                    top_discards += 1
                continue
            if kind == "open":
                if text in ("[", "(") and not stack and not streamed_top and top_discards == 0:
                    streamed_top = True
                    continue
                stack.append(_Frame(opener=text, line=lines_of.at(token_start)))
                continue
            if kind == "close":
                if not stack:
                    if streamed_top and text in ("]", ")"):
                        streamed_top = False
                        continue
                    raise HistoryError(
                        lines_of.at(token_start),
                        f"unexpected {text!r} with nothing open",
                    )
                frame = stack.pop()
                if _CLOSERS[frame.opener] != text:
                    raise HistoryError(
                        lines_of.at(token_start),
                        f"{text!r} closes {frame.opener!r} opened on line {frame.line}",
                    )
                value: Any = _build(frame)
                start = frame.line
            else:
                value = _atom(kind, text)
                start = 0 if stack else lines_of.at(token_start)
            if stack:
                parent = stack[-1]
                if parent.discards:
                    parent.discards -= 1
                else:
                    parent.items.append(value)
                continue
            if top_discards:
                top_discards -= 1
                continue
            yield value, start
        buffer_line += buffer.count("\n", 0, position)
        buffer = buffer[position:]
    if not _SKIP.fullmatch(buffer):
        raise HistoryError(buffer_line, f"cannot read EDN starting at {buffer.strip()[:40]!r}")
    if stack:
        raise HistoryError(stack[-1].line, f"{stack[-1].opener!r} is never closed")


def _build(frame: _Frame) -> Any:
    if frame.opener in ("[", "("):
        return frame.items
    if frame.opener == "#{":
        return _sorted_set(frame.items)
    if len(frame.items) % 2:
        raise HistoryError(frame.line, "a map needs an even number of forms (key value ...)")
    items = frame.items
    keys = items[0::2]
    if all(type(key) is str for key in keys):
        return dict(zip(keys, items[1::2], strict=True))
    return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def _sorted_set(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=repr)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted(((k, _hashable(v)) for k, v in value.items()), key=repr))
    return value


def _atom(kind: str | None, text: str) -> Any:
    if kind == "atom":
        first = text[0]
        if first == ":":
            return text[1:]
        if first.isdigit() and text.isdigit():
            return int(text)
    if kind == "string":
        if "\\" not in text and "\n" not in text:
            return text[1:-1]
        return json.loads(text.replace("\n", "\\n").replace("\t", "\\t"))
    if kind == "char":
        name = text[1:]
        if name in _CHARS:
            return _CHARS[name]
        if len(name) == 5 and name.startswith("u"):
            return chr(int(name[1:], 16))
        return name
    if text == "nil":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    if text.startswith(":"):
        return text[1:]
    if _INTEGER.fullmatch(text):
        return int(text.rstrip("N"))
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    if _RATIO.fullmatch(text):
        numerator, denominator = text.split("/")
        return int(numerator) / int(denominator)
    if text in ("##Inf", "##-Inf", "##NaN"):
        return {"##Inf": math.inf, "##-Inf": -math.inf, "##NaN": math.nan}[text]
    return text  # a symbol


# ---------------------------------------------------------------------------- writer


def format_edn(value: Any) -> str:
    """EDN text for a JSON-like Python value (str -> string, None -> nil, list -> vector)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "##NaN"
        if math.isinf(value):
            return "##Inf" if value > 0 else "##-Inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_edn(item) for item in value) + "]"
    if isinstance(value, set | frozenset):
        return "#{" + " ".join(format_edn(item) for item in _sorted_set(list(value))) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{format_edn(k)} {format_edn(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as EDN: {value!r}")


def keyword_or_string(text: str) -> str:
    """``:text`` when it is a valid EDN keyword, else a quoted string."""
    return f":{text}" if _KEYWORD_SAFE.fullmatch(text) else format_edn(text)


def op_to_edn(op: Op) -> str:
    """One Jepsen history line for ``op``: ``{:index 0, :time 5, :type :invoke, ...}``."""
    process = keyword_or_string(op.process) if isinstance(op.process, str) else str(op.process)
    parts = [
        f":index {op.index}",
        f":time {op.time}",
        f":process {process}",
        f":type {keyword_or_string(op.type.value)}",
        f":f {keyword_or_string(op.f)}",
    ]
    if op.key is not None:
        parts.append(f":key {format_edn(op.key)}")
    parts.append(f":value {format_edn(op.value)}")
    if op.error is not None:
        parts.append(f":error {format_edn(op.error)}")
    return "{" + ", ".join(parts) + "}"


def as_independent_tuple(op: Op) -> Op:
    """``op`` with its key moved into the value, ``[key value]``, as Jepsen's ``independent``
    workloads write it (the inverse of reading with ``split_keys=True``); ops without a key
    (the nemesis's) are unchanged."""
    if op.key is None:
        return op
    return dataclasses.replace(op, key=None, value=[op.key, op.value])
