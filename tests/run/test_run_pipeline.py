"""The whole `harness run` pipeline against an in-process fake cluster (no real nodes)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from run_fake_cluster import FakeHttpCluster

from harness.history import read_history
from harness.history.ops import OpType
from harness.run.analysis import check_history
from harness.run.options import RunOptions, read_metadata
from harness.run.runner import execute

RUN_FILES = (
    "history.jsonl",
    "results.json",
    "report.md",
    "timeline.html",
    "latency.png",
    "rate.png",
)


def run_fake(tmp_path: Path, nemesis: str) -> tuple[int, Path, FakeHttpCluster, str]:
    clusters: list[FakeHttpCluster] = []

    def factory(_options: RunOptions, _scratch: Path) -> FakeHttpCluster:
        clusters.append(FakeHttpCluster(3))
        return clusters[0]

    options = RunOptions(
        nemesis=nemesis, time_limit_s=2.5, concurrency=4, rate=200, seed=11, out=tmp_path,
        client_timeout_s=0.3, check_timeout_s=20, nemesis_quiet_s=(0.2, 0.3),
        nemesis_fault_s=(0.3, 0.5),
    )  # fmt: skip
    stderr = io.StringIO()
    code = asyncio.run(execute(options, stderr=stderr, backend_factory=factory))
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    return code, run_dir, clusters[0], stderr.getvalue()


def test_a_run_writes_every_file_records_faults_and_ends_with_final_reads(tmp_path: Path) -> None:
    """Six non-empty files, nemesis events in the history, a final read of each key, a healed cluster."""
    code, run_dir, cluster, stderr = run_fake(tmp_path, "kill,pause")
    for name in RUN_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    assert sorted(path.name for path in (run_dir / "nodes").iterdir()) == [
        "n1.log",
        "n2.log",
        "n3.log",
    ]
    assert "SEED=11" in stderr
    ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    assert sum(op.type is OpType.INVOKE for op in ops) >= 100
    assert any(op.process == "nemesis" and op.f.startswith("start-") for op in ops)
    final = read_metadata(run_dir)["final_reads"]
    assert [read["key"] for read in final] == ["k1", "k2", "k3", "k4", "k5"]
    assert all(read["type"] == "ok" for read in final)
    assert cluster.healthy
    results = json.loads((run_dir / "results.json").read_text())
    assert results["nemesis_windows"] and results["invocations"] >= 100
    assert code == check_history(ops, "kv", timeout_s=20).verdict.exit_code


def test_a_planted_stale_read_in_a_run_makes_harness_report_exit_1(tmp_path: Path) -> None:
    """A green run means something: the same run folder with one stale read is judged invalid."""
    import argparse

    from harness.commands import report as report_command
    from harness.history import write_history
    from harness.run.mutations import plant_stale_read

    code, run_dir, _cluster, _stderr = run_fake(tmp_path, "none")
    assert code == 0
    ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    planted = plant_stale_read(ops)
    assert planted is not None, "a 2.5 s run at 200 ops/s has overwritten values to plant"
    (run_dir / "history.jsonl").unlink()
    write_history(run_dir / "history.jsonl", planted[0])
    assert report_command.main(argparse.Namespace(run_dir=run_dir, check_timeout=20.0)) == 1
    assert json.loads((run_dir / "results.json").read_text())["verdict"] == "invalid"
