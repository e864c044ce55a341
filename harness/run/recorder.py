"""The run's history: one op per line on disk as it happens, and in memory for the report.

Theory of operation: every worker and the nemesis call the recorder from one
asyncio loop, so appending needs no lock; each op gets the next ``index`` and
``time`` = nanoseconds since the run started on the harness's monotonic
clock. The file is written through HIST's ``HistoryWriter`` (one flushed line
per op), so a crash of the harness loses at most the op being written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.history.jsonl import HistoryWriter
from harness.history.ops import Op, OpType

NEMESIS_PROCESS = "nemesis"


class Recorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.ops: list[Op] = []
        self._start_ns = time.monotonic_ns()
        self._writer = HistoryWriter(path, append=False)
        self.completed = 0  # completions of client ops, for the progress line

    def now_ns(self) -> int:
        return time.monotonic_ns() - self._start_ns

    def _append(self, **fields: Any) -> Op:
        op = Op(index=len(self.ops), time=self.now_ns(), **fields)
        self.ops.append(op)
        self._writer.write(op)
        return op

    def invoke(self, process: int, f: str, key: Any, value: Any) -> Op:
        return self._append(process=process, type=OpType.INVOKE, f=f, key=key, value=value)

    def complete(self, invoke: Op, op_type: OpType, value: Any, error: Any = None) -> Op:
        assert op_type is not OpType.INVOKE, "a completion is ok, fail or info"
        self.completed += 1
        return self._append(
            process=invoke.process,
            type=op_type,
            f=invoke.f,
            key=invoke.key,
            value=value,
            error=error,
        )

    def record_nemesis(self, f: str, value: str) -> None:
        """A Jepsen-style unpaired ``info`` of process "nemesis" (HIST's validator allows it)."""
        self._append(process=NEMESIS_PROCESS, type=OpType.INFO, f=f, value=value)

    def close(self) -> None:
        self._writer.close()
