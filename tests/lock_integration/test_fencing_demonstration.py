"""`harness run --workload fenced --nemesis pause`: fencing keeps every acknowledged append; without it, appends are lost.

The unfenced run is the demonstration that the fenced workload and its
checker can fail: a write sent to a node just paused waits in its socket
past the writer's lease, lands after another holder's acknowledged appends
and erases them. Fault timing is wall-clock, so one unfenced run may miss;
it gets up to three seeds and must be reported invalid by one of them. The
fenced run has no such excuse: it must be valid every time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def run_fenced(tmp_path: Path, *, fencing: bool, seed: int) -> tuple[int, dict]:
    out = tmp_path / f"fencing-{fencing}-{seed}"
    argv = [
        sys.executable, "-m", "harness", "run", "--workload", "fenced", "--nemesis", "pause",
        "--workload-opt", f"fencing={'true' if fencing else 'false'}", "--workload-opt", "think_ms=800", "--workload-opt", "keys=8",
        "--time-limit", "20", "--concurrency", "12", "--rate", "60", "--seed", str(seed),
        "--nemesis-quiet", "1,2", "--nemesis-fault", "4,5", "--out", str(out),
    ]  # fmt: skip
    process = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    folders = list(out.iterdir()) if out.exists() else []
    assert folders, process.stdout + process.stderr
    results = json.loads((folders[0] / "results.json").read_text())
    return process.returncode, results["checker"]


def test_fenced_appends_survive_process_pauses(tmp_path: Path) -> None:
    """With tokens checked by the register, no acknowledged append is lost under pauses."""
    code, checker = run_fenced(tmp_path, fencing=True, seed=11)
    assert code == 0 and checker["verdict"] == "valid", checker["reasons"]
    assert checker["counts"]["acknowledged"] > 20


def test_unfenced_appends_are_lost_under_pauses_and_the_check_says_invalid(tmp_path: Path) -> None:
    """fencing=false: a stale holder's delayed write erases acknowledged appends; exit code 1."""
    outcomes = []
    for seed in (11, 12, 13):
        code, checker = run_fenced(tmp_path, fencing=False, seed=seed)
        outcomes.append((seed, code, checker["counts"].get("lost")))
        if code == 1:
            assert checker["verdict"] == "invalid" and checker["counts"]["lost"] > 0
            return
    pytest.fail(f"no unfenced run lost an append: {outcomes}")
