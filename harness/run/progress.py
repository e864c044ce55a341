"""The live progress line on stderr: elapsed/total, ops done, ops/s, active fault.

On a terminal the line is rewritten in place with ``\\r``; otherwise (CI logs,
pipes) one line is printed every ``interval_s`` seconds so logs stay readable.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO


def progress_text(
    *, elapsed_s: float, total_s: float, ops_done: int, ops_per_s: float, fault: str | None
) -> str:
    return (
        f"[{elapsed_s:5.1f}/{total_s:.0f} s] ops {ops_done}  {ops_per_s:6.1f} ops/s"
        f"  fault: {fault or 'none'}"
    )


class Progress:
    def __init__(
        self,
        *,
        total_s: float,
        ops_done: Callable[[], int],
        elapsed_s: Callable[[], float],
        fault: Callable[[], str | None],
        stream: TextIO = sys.stderr,
        interval_s: float | None = None,
    ) -> None:
        self.total_s = total_s
        self.ops_done = ops_done
        self.elapsed_s = elapsed_s
        self.fault = fault
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.5 if self.tty else 5.0)

    def line(self, previous: tuple[float, int]) -> tuple[str, tuple[float, int]]:
        elapsed, done = self.elapsed_s(), self.ops_done()
        span = max(elapsed - previous[0], 1e-9)
        rate = (done - previous[1]) / span
        fault = self.fault()
        if fault and len(fault) > 60:
            fault = fault[:57] + "..."
        text = progress_text(
            elapsed_s=elapsed, total_s=self.total_s, ops_done=done, ops_per_s=rate, fault=fault
        )
        return text, (elapsed, done)

    def _emit(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    async def run(self) -> None:
        """Print until cancelled."""
        previous = (self.elapsed_s(), self.ops_done())
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                text, previous = self.line(previous)
                self._emit(text)
        finally:
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
