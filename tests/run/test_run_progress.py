"""The progress line shows elapsed/total, ops done, ops/s and the active fault."""

from __future__ import annotations

import asyncio
import contextlib
import io

from harness.run.progress import Progress, progress_text


def test_progress_text_names_every_field() -> None:
    text = progress_text(
        elapsed_s=12.5, total_s=60, ops_done=1234, ops_per_s=98.7, fault="kill: n2"
    )
    assert text == "[ 12.5/60 s] ops 1234    98.7 ops/s  fault: kill: n2"
    assert progress_text(elapsed_s=0, total_s=1, ops_done=0, ops_per_s=0, fault=None).endswith(
        "fault: none"
    )


def test_without_a_terminal_progress_prints_whole_lines_not_carriage_returns() -> None:
    """CI logs get one line per interval; the ops/s figure is the rate since the previous line."""
    stream = io.StringIO()
    state = {"elapsed": 0.0, "ops": 0}

    def elapsed() -> float:
        state["elapsed"] += 1.0
        state["ops"] += 50
        return state["elapsed"]

    progress = Progress(
        total_s=10, ops_done=lambda: state["ops"], elapsed_s=elapsed, fault=lambda: "partition: x",
        stream=stream, interval_s=0.01,
    )  # fmt: skip

    async def scenario() -> None:
        task = asyncio.create_task(progress.run())
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and "\r" not in stream.getvalue()
    assert all("fault: partition: x" in line and "50.0 ops/s" in line for line in lines)
