"""Well-formedness of a history, checked one op at a time.

Theory of operation: a checker assumes that every completion answers exactly
one earlier invoke of the same process, that a process has at most one op in
flight, and that a process whose op ended in ``info`` is never used again
(DESIGN.md "History format"; Jepsen does the same by giving the client a new
process id after an indeterminate outcome). A history that breaks these rules
would make any verdict meaningless, so readers refuse it with an error that
names the line, instead of letting the checker guess.

Rules (each one raises ``HistoryError`` naming the line):
  1. ``type`` is one of invoke | ok | fail | info.
  2. A completion (ok / fail / info) answers an open invoke of its process.
     Exception: an ``info`` with no open invoke is an *unpaired info* as Jepsen
     writes for the nemesis; it is accepted only for the nemesis process.
  3. A process has at most one open invoke.
  4. A process is never used again after an ``info`` completion.
  5. A completion has the same ``f`` as its invoke.
  6. A completion is not earlier (``time``) than its invoke: the op cannot
     return before it was called, and a timeline of such a history would lie.
  7. ``index`` grows strictly from op to op (Jepsen's histories are dense and
     ordered; a repeated or decreasing index means a corrupt or merged file,
     and ops named by index in a counterexample would be ambiguous).

The validator keeps one small record per process, so it runs in constant
memory per process over a stream of any length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.history.ops import Op, OpType

NEMESIS_PROCESS = "nemesis"


class HistoryError(ValueError):
    """A history line that is malformed or breaks the invoke/complete rules.

    ``line`` is the 1-based line of the input where the offending op starts
    (0 when the ops did not come from a file); the message starts with
    ``line N:`` so it can be shown to a person as is.
    """

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.reason = message


@dataclass(slots=True, kw_only=True)
class HistoryValidator:
    """Streaming checker of the rules in this module's docstring.

    Feed ops in history order with ``feed(op, line)``; it raises on the first
    broken rule. ``open_invokes`` is what is still in flight at the end (an
    invoke that never completed is allowed: the checker treats it like info).
    """

    open_invokes: dict[int | str, tuple[Op, int]] = field(default_factory=dict)
    retired: dict[int | str, int] = field(default_factory=dict)  # process -> line of its info
    last_index: int | None = None
    last_index_line: int = 0

    def feed(self, op: Op, line: int = 0) -> None:
        """Accept ``op`` or raise ``HistoryError`` naming ``line``."""
        if not isinstance(op.type, OpType):
            raise HistoryError(
                line, f"unknown type {op.type!r} (expected invoke, ok, fail or info)"
            )
        if self.last_index is not None and op.index <= self.last_index:
            raise HistoryError(
                line,
                f"index {op.index} is not greater than index {self.last_index} on line "
                f"{self.last_index_line} (indices must grow strictly, in history order)",
            )
        self.last_index, self.last_index_line = op.index, line
        if op.process == NEMESIS_PROCESS:
            return  # Jepsen's nemesis logs paired or unpaired info ops; they are not client ops.
        if op.process in self.retired:
            raise HistoryError(
                line,
                f"process {op.process} is used again after its info on line "
                f"{self.retired[op.process]} (a process must not be reused after an info; "
                "give the client a new process id)",
            )
        if op.type is OpType.INVOKE:
            self._feed_invoke(op, line)
        else:
            self._feed_completion(op, line)

    def _feed_invoke(self, op: Op, line: int) -> None:
        if op.process in self.open_invokes:
            _, open_line = self.open_invokes[op.process]
            raise HistoryError(
                line,
                f"second invoke for process {op.process} while its invoke on line {open_line} "
                "is still open (one op in flight per process)",
            )
        self.open_invokes[op.process] = (op, line)

    def _feed_completion(self, op: Op, line: int) -> None:
        opened = self.open_invokes.pop(op.process, None)
        if opened is None:
            raise HistoryError(
                line,
                f"completion {op.type.value!r} for process {op.process} without an open invoke",
            )
        invoke, invoke_line = opened
        if invoke.f != op.f:
            raise HistoryError(
                line,
                f"completion f {op.f!r} does not match f {invoke.f!r} of the invoke on line "
                f"{invoke_line} (process {op.process})",
            )
        if op.time < invoke.time:
            raise HistoryError(
                line,
                f"completion at time {op.time} is earlier than its invoke at time {invoke.time} "
                f"on line {invoke_line} (process {op.process})",
            )
        if op.type is OpType.INFO:
            self.retired[op.process] = line
