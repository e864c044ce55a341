"""SIGTERM to `harness run` ends it as Ctrl-C does: nodes stopped, the run's record kept.

A CI job's timeout or a plain ``kill`` sends SIGTERM. Before, that killed the
harness outright: no run.json (so `harness report DIR` could not rebuild the
run), and the node data left in a temporary folder. Now it takes the Ctrl-C
path (harness/cli.py): exit 2, and the folder holds what `harness report` needs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_sigterm_ends_a_run_like_ctrl_c_with_its_record_kept(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "harness", "run", "--workload", "kv", "--nemesis", "none",
               "--time-limit", "60", "--concurrency", "3", "--rate", "40", "--out", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        history: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:
            history = [p for p in tmp_path.glob("*/history.jsonl") if p.stat().st_size > 0]
            if history:
                break
            time.sleep(0.2)
        assert history, "the run wrote no history within 60 s"
        time.sleep(1.0)  # a few operations in
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 2, stderr[-2000:]
    assert "interrupted" in stderr
    run_dir = history[0].parent
    assert (run_dir / "run.json").exists(), sorted(p.name for p in run_dir.iterdir())
    report = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert report.returncode in (0, 1), report.stderr[-2000:]  # a verdict, not a usage error
    assert (run_dir / "report.md").exists()
