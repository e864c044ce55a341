"""`harness run --workload lock` under faults: the history is linearizable for the rwlock model.

The run goes through the real CLI, as a user would, against real node
processes; the fixed seed is printed by the run (SEED=...) for a rerun.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(200)]


def test_lock_workload_stays_linearizable_under_pauses_and_partitions(tmp_path: Path) -> None:
    """Grants, waits, deadlock refusals and releases under pause+partition check as valid with tokens rising."""
    argv = [
        sys.executable, "-m", "harness", "run", "--workload", "lock", "--nemesis", "pause,partition",
        "--time-limit", "14", "--concurrency", "6", "--rate", "80", "--seed", "21",
        "--nemesis-quiet", "1,2", "--nemesis-fault", "2,4", "--out", str(tmp_path),
    ]  # fmt: skip
    process = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    folders = list(tmp_path.iterdir())
    assert folders, process.stdout + process.stderr
    results = json.loads((folders[0] / "results.json").read_text())
    assert process.returncode == 0, (process.stdout[-2000:], results["checker"]["reasons"])
    assert results["checker"]["model"] == "rwlock"
    assert results["counts"]["acquire"]["ok"] > 20
    assert "held by p" in (folders[0] / "timeline.html").read_text()  # the lock lanes were drawn
