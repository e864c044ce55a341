"""One line of a history.

A history is a sequence of invocations and completions recorded by the
harness clients. ``type`` is invoke | ok | fail | info; info means the outcome
is unknown (it may or may not have happened) and the process that issued it
is never used again. ``time`` is nanoseconds since the run started.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class OpType(enum.Enum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    index: int
    time: int
    process: int | str
    type: OpType
    f: str
    value: Any = None
    key: Any = None  # optional; when set, the checker may split the history by key
    error: Any = None

    def to_json_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type.value,
            "f": self.f,
            "value": self.value,
        }
        if self.key is not None:
            record["key"] = self.key
        if self.error is not None:
            record["error"] = self.error
        return record
