"""`harness run` against real node processes: each nemesis kind keeps kv linearizable.

Each test runs the real CLI in a subprocess (as a user would) for ~12-15 s of
workload with faults every few seconds, then reads the run folder. Seeds are
fixed and printed by the run (SEED=...), so a failure names its rerun command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history import read_history, write_history
from harness.run.audit import lost_acknowledged_writes
from harness.run.mutations import plant_stale_read
from harness.run.options import read_metadata

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

RUN_FILES = (
    "history.jsonl",
    "results.json",
    "report.md",
    "timeline.html",
    "latency.png",
    "rate.png",
)


def harness(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *argv],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def run_kv(
    tmp_path: Path, nemesis: str, *, seed: int, time_limit: int = 14
) -> tuple[int, Path, str]:
    process = harness(
        "run",
        "--workload",
        "kv",
        "--nemesis",
        nemesis,
        "--time-limit",
        str(time_limit),
        "--seed",
        str(seed),
        "--concurrency",
        "6",
        "--rate",
        "80",
        "--out",
        str(tmp_path),
        "--nemesis-quiet",
        "1.5,2.5",
        "--nemesis-fault",
        "3,4",
    )
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    return process.returncode, run_dir, process.stderr


def assert_complete_run(run_dir: Path, stderr: str, code: int) -> dict:
    assert code == 0, f"expected a valid run, exit {code}:\n{stderr[-3000:]}"
    for name in RUN_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    assert list((run_dir / "nodes").glob("*.log")), "node logs are collected"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "valid"
    assert results["invocations"] >= 200
    return results


def fault_events(run_dir: Path, kind: str) -> list[str]:
    ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    return [op.value for op in ops if op.process == "nemesis" and op.f == f"start-{kind}"]


@pytest.mark.parametrize(("kind", "seed"), [("partition", 101), ("pause", 103), ("clock", 104)])
def test_kv_is_linearizable_under_each_nemesis(tmp_path: Path, kind: str, seed: int) -> None:
    """Under partitions, pauses or clock skew the kv history stays linearizable and the cluster recovers."""
    code, run_dir, stderr = run_kv(tmp_path, kind, seed=seed)
    results = assert_complete_run(run_dir, stderr, code)
    assert fault_events(run_dir, kind), f"no {kind} fault was injected"
    assert all(read["type"] == "ok" for read in results["final_reads"]), (
        "the healed cluster answers reads"
    )


def test_kill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """After SIGKILLs and restarts, the final reads show every acknowledged write's effect or a later one."""
    code, run_dir, stderr = run_kv(tmp_path, "kill", seed=102)
    results = assert_complete_run(run_dir, stderr, code)
    assert fault_events(run_dir, "kill"), "no kill was injected"
    ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    acked = [op for op in ops if op.type.value == "ok" and op.f in {"write", "cas"}]
    assert len(acked) >= 50, "the run acknowledged enough writes to be a test of durability"
    final = read_metadata(run_dir)["final_reads"]
    assert len(final) == 5 and all(read["type"] == "ok" for read in final)
    assert lost_acknowledged_writes(ops) == []
    assert results["lost_acknowledged_writes"] == []


def test_a_planted_stale_read_makes_the_runs_checker_say_invalid(tmp_path: Path) -> None:
    """Take a real valid run, make one ok read return an overwritten value: `harness report` exits 1."""
    code, run_dir, stderr = run_kv(tmp_path, "none", seed=105, time_limit=8)
    assert code == 0, stderr[-3000:]
    ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    planted = plant_stale_read(ops)
    assert planted is not None, "a real run has reads of overwritten keys"
    mutated, description = planted
    (run_dir / "history.jsonl").unlink()
    write_history(run_dir / "history.jsonl", mutated)
    report = harness("report", str(run_dir))
    assert report.returncode == 1, f"{description}\n{report.stderr}"
    assert json.loads((run_dir / "results.json").read_text())["verdict"] == "invalid"
    assert "INVALID" in (run_dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(260)
def test_acceptance_run_all_four_nemeses_for_40_seconds(tmp_path: Path) -> None:
    """The README's acceptance command: exit 0, all six files, >= 200 invocations, within 200 s."""
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--workload",
            "kv",
            "--nemesis",
            "partition,kill,pause,clock",
            "--time-limit",
            "40",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert_complete_run(run_dir, process.stderr, process.returncode)
