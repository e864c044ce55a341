"""Check a recorded history and write every report file of a run folder.

Shared by ``harness run`` (at the end of a run) and ``harness report``
(rebuilding from history.jsonl and run.json), so both produce the same files:
results.json, report.md, timeline.html, latency.png, rate.png.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.check.verdict import CheckResult, Verdict
from harness.history.ops import Op
from harness.history.unfinished import close_open_invokes
from harness.report.plots import plot_latency, plot_rate
from harness.report.report_md import render_report
from harness.report.results_json import build_results, client_ops, write_results_json
from harness.workloads import load_workload
from harness.workloads.base import Workload


def check_history(ops: Sequence[Op], model: str, *, timeout_s: float) -> CheckResult:
    """Run the linearizability checker on the client ops; any failure to check is UNKNOWN, never OK."""
    started = time.monotonic()
    try:
        from harness.check.linearizable import check_linearizable
    except ImportError as error:
        return CheckResult(
            checker="linearizable",
            model=model,
            verdict=Verdict.UNKNOWN,
            reasons=[f"checker not available: {error}"],
        )
    try:
        return check_linearizable(client_ops(ops), model, timeout_s=timeout_s)
    except Exception as error:  # a checker crash must surface as unknown, with the reason
        return CheckResult(
            checker="linearizable",
            model=model,
            verdict=Verdict.UNKNOWN,
            reasons=[f"checker error: {type(error).__name__}: {error}"],
            elapsed_s=time.monotonic() - started,
        )


def _workload_class(metadata: dict[str, Any]) -> type[Workload] | None:
    try:
        return load_workload(str(metadata.get("workload")))
    except LookupError:
        return None


def check_run(ops: Sequence[Op], metadata: dict[str, Any], *, timeout_s: float) -> CheckResult:
    """The verdict of a run: its workload's ``check`` (linearizability unless overridden)."""
    ops = close_open_invokes(ops, error="never completed (run cut short)")
    workload = _workload_class(metadata)
    model = str(metadata.get("model", "kv"))
    if workload is None:
        return check_history(ops, model, timeout_s=timeout_s)
    started = time.monotonic()
    try:
        return workload.check(
            client_ops(ops), timeout_s=timeout_s, options=metadata.get("workload_options", {})
        )
    except Exception as error:  # a checker crash must surface as unknown, with the reason
        return CheckResult(
            checker=f"{workload.name} check",
            model=model,
            verdict=Verdict.UNKNOWN,
            reasons=[f"checker error: {type(error).__name__}: {error}"],
            elapsed_s=time.monotonic() - started,
        )


def _lock_holds(ops: Sequence[Op], metadata: dict[str, Any]) -> Sequence[tuple[str, str, int, int]]:
    workload = _workload_class(metadata)
    if workload is None:
        return ()
    try:
        return workload.lock_holds(ops)
    except Exception:  # the bars are decoration; never lose the report over them
        return ()


def _timeline(ops: Sequence[Op], metadata: dict[str, Any], result: CheckResult, title: str) -> str:
    windows = [tuple(window) for window in metadata.get("windows", [])]
    counterexample = result.counterexamples[0] if result.counterexamples else None
    lock_holds = _lock_holds(ops, metadata)
    try:
        from harness.report.timeline import render_timeline
    except ImportError:
        return (
            f"<!doctype html><title>{html.escape(title)}</title>"
            "<p>timeline renderer not available; see history.jsonl</p>"
        )
    return render_timeline(
        ops,
        title=title,
        nemesis_windows=windows,
        counterexample=counterexample,
        lock_holds=lock_holds,
    )


def write_reports(
    run_dir: Path, ops: Sequence[Op], metadata: dict[str, Any], result: CheckResult
) -> dict[str, Any]:
    """Write the five report files; returns the results.json content."""
    results = build_results(ops, metadata, result)
    write_results_json(run_dir / "results.json", results)
    (run_dir / "report.md").write_text(render_report(results, result))
    title = f"{metadata.get('workload')} / {metadata.get('nemesis')} / seed {metadata.get('seed')}"
    (run_dir / "timeline.html").write_text(_timeline(ops, metadata, result, title))
    windows = [tuple(window) for window in metadata.get("windows", [])]
    plot_latency(run_dir / "latency.png", ops, windows, title=f"latency: {title}")
    plot_rate(run_dir / "rate.png", ops, windows, title=f"throughput: {title}")
    return results
