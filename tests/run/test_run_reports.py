"""Report writers turn a canned history into correct numbers and non-empty files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.check.verdict import CheckResult, Verdict
from harness.commands import report as report_command
from harness.history import write_history
from harness.history.ops import Op, OpType
from harness.report.results_json import build_results, quantile
from harness.run.analysis import check_history, write_reports
from harness.run.options import RunOptions, write_metadata

MS = 1_000_000


def canned_history() -> list[Op]:
    """Two processes on k1; one fault window from 10 ms to 30 ms; an info write inside it."""
    rows = [
        (0, OpType.INVOKE, "write", 1, 0),
        (0, OpType.OK, "write", 1, 2),
        (1, OpType.INVOKE, "read", None, 3),
        (1, OpType.OK, "read", 1, 7),
        ("nemesis", OpType.INFO, "start-partition", "isolate-one: n1->n2 n2->n1", 10),
        (0, OpType.INVOKE, "write", 2, 12),
        (0, OpType.INFO, "write", None, 20),
        (1, OpType.INVOKE, "cas", [1, 3], 14),
        (1, OpType.FAIL, "cas", [1, 3], 16),
        ("nemesis", OpType.INFO, "stop-partition", "healed", 30),
        (2, OpType.INVOKE, "read", None, 40),
        (2, OpType.OK, "read", 2, 44),
    ]
    ops = []
    for index, (process, op_type, f, value, time_ms) in enumerate(rows):
        key = None if process == "nemesis" else "k1"
        ops.append(
            Op(
                index=index,
                time=time_ms * MS,
                process=process,
                type=op_type,
                f=f,
                value=value,
                key=key,
            )
        )
    return ops


METADATA = {
    "workload": "kv",
    "nemesis": "partition",
    "seed": 7,
    "model": "kv",
    "options": RunOptions(nemesis="partition", seed=7).to_json(),
    "windows": [[10 * MS, 30 * MS, "partition: isolate-one"]],
    "nemesis_events": [
        {"time": 10 * MS, "f": "start-partition", "kind": "partition", "value": "isolate-one"},
        {"time": 30 * MS, "f": "stop-partition", "kind": "partition", "value": "healed"},
    ],
    "duration_s": 1.0,
}

VALID = CheckResult(checker="linearizable", model="kv", verdict=Verdict.OK)


def test_counts_latency_and_availability_come_from_paired_ops() -> None:
    """4 client ops: 2 ok outside faults; 1 info + 1 fail inside the window; latencies from ok pairs."""
    results = build_results(canned_history(), METADATA, VALID)
    assert results["invocations"] == 5
    assert results["counts"]["all"] == {"ok": 3, "info": 1, "fail": 1}
    assert results["counts"]["write"] == {"ok": 1, "info": 1}
    assert results["latency"]["read"]["max_ms"] == 4.0
    assert results["latency"]["write"]["p50_ms"] == 2.0
    assert results["availability"]["during_faults"] == {
        "ops": 2,
        "ok": 0,
        "fail": 1,
        "info": 1,
        "answered": 0,
        "availability": 0.0,
    }
    assert results["availability"]["outside_faults"]["availability"] == 1.0
    assert results["verdict"] == "valid" and results["seed"] == 7


def test_quantiles_are_nearest_rank() -> None:
    values = [float(number) for number in range(1, 101)]
    assert quantile(values, 0.5) == 50.0
    assert quantile(values, 0.99) == 99.0
    assert quantile([], 0.5) is None


@pytest.mark.parametrize("verdict", [Verdict.OK, Verdict.ILLEGAL])
def test_report_files_are_written_and_the_verdict_comes_first(
    tmp_path: Path, verdict: Verdict
) -> None:
    result = CheckResult(checker="linearizable", model="kv", verdict=verdict, reasons=["because"])
    write_reports(tmp_path, canned_history(), METADATA, result)
    for name in ("results.json", "report.md", "timeline.html", "latency.png", "rate.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    report = (tmp_path / "report.md").read_text()
    first_lines = report.splitlines()[:4]
    assert any(f"**Verdict: {verdict.value}**" in line for line in first_lines)
    assert "isolate-one" in report and "| write" in report
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == verdict.value
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"


def test_harness_report_rebuilds_a_run_folder_with_the_checkers_verdict(tmp_path: Path) -> None:
    """`harness report DIR` recomputes every file from history.jsonl + run.json; exit code = verdict."""
    write_history(tmp_path / "history.jsonl", canned_history())
    write_metadata(tmp_path, METADATA)
    code = report_command.main(argparse.Namespace(run_dir=tmp_path, check_timeout=10.0))
    expected = check_history(canned_history(), "kv", timeout_s=10.0).verdict
    assert code == expected.exit_code
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == expected.value
    assert (tmp_path / "timeline.html").stat().st_size > 0


def test_harness_report_on_a_folder_without_run_json_is_a_usage_error(tmp_path: Path) -> None:
    assert report_command.main(argparse.Namespace(run_dir=tmp_path, check_timeout=1.0)) == 2


def test_ops_left_in_flight_are_checked_as_info() -> None:
    """An interrupted run's open invokes get info completions (may or may not have happened)."""
    from harness.history.unfinished import close_open_invokes
    from harness.run.analysis import check_run

    ops = [
        *canned_history()[:4],
        Op(index=4, time=50 * MS, process=5, type=OpType.INVOKE, f="write", key="k1", value=9),
    ]
    closed = close_open_invokes(ops)
    assert closed[:5] == ops
    assert [(op.process, op.type, op.index) for op in closed[5:]] == [(5, OpType.INFO, 5)]
    assert check_run(ops, METADATA, timeout_s=10).verdict is Verdict.OK
