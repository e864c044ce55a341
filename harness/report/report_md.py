"""report.md: the run for a person, verdict first.

Sections: verdict and why, op counts by outcome, latency quantiles,
availability during and outside faults, the nemesis events, and the checker's
own text (HIST's ``render_result_text``, which draws a counterexample when
there is one). Tables are GitHub-flavoured markdown via tabulate.
"""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from harness.check.verdict import CheckResult

_VERDICT_WORDS = {
    "valid": "VALID: no linearizability violation was found in this history.",
    "invalid": "INVALID: the history is not linearizable (a safety violation); see the counterexample below and timeline.html.",
    "unknown": "UNKNOWN: the checker gave up (budget ran out or it was unavailable); this run proves nothing.",
}


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _counts_table(counts: dict[str, dict[str, int]]) -> str:
    outcomes = ["ok", "fail", "info", "open"]
    rows = [
        [f, *(counts[f].get(outcome, 0) for outcome in outcomes), sum(counts[f].values())]
        for f in counts
    ]
    return tabulate(rows, headers=["f", *outcomes, "total"], tablefmt="github")


def _latency_table(latency: dict[str, dict[str, Any]]) -> str:
    rows = [
        [
            f,
            stats["count"],
            *(_number(stats[name]) for name in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
        ]
        for f, stats in latency.items()
    ]
    return tabulate(
        rows, headers=["f", "ok ops", "p50 ms", "p95 ms", "p99 ms", "max ms"], tablefmt="github"
    )


def _availability_table(availability: dict[str, dict[str, Any]]) -> str:
    rows = []
    for group, stats in availability.items():
        share = stats["availability"]
        rows.append(
            [
                group.replace("_", " "),
                stats["ops"],
                stats["ok"],
                stats["fail"],
                stats["info"],
                stats.get("answered", stats["ok"]),
                "-" if share is None else f"{100 * share:.1f}%",
            ]
        )
    return tabulate(
        rows, headers=["", "ops", "ok", "fail", "info", "answered", "available"], tablefmt="github"
    )


def _events_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return "No faults were injected."
    rows = [[f"{int(event['time']) / 1e9:.2f}", event["f"], event["value"]] for event in events]
    return tabulate(rows, headers=["time s", "event", "detail"], tablefmt="github")


def checker_text(result: CheckResult) -> str:
    try:
        from harness.check.render import render_result_text
    except ImportError:
        lines = [f"{result.checker} / {result.model}: {result.verdict.value}"]
        lines += [f"- {reason}" for reason in result.reasons]
        return "\n".join(lines)
    return render_result_text(result)


def _durability_lines(lost: list[str] | None) -> list[str]:
    if lost is None:
        return []
    if not lost:
        return ["Durability: the final reads show every acknowledged write (or a later one).", ""]
    return [
        "Durability: **acknowledged writes were lost**:",
        "",
        *(f"- {line}" for line in lost),
        "",
    ]


def render_report(results: dict[str, Any], result: CheckResult) -> str:
    verdict = results["verdict"]
    options = results.get("options", {})
    parts = [
        f"# Run: {results.get('workload')} under {results.get('nemesis')}",
        "",
        f"**Verdict: {verdict}** (exit code {result.verdict.exit_code}). {_VERDICT_WORDS[verdict]}",
        "",
    ]
    parts += [f"- {reason}" for reason in result.reasons]
    parts += [
        "",
        f"Seed {results.get('seed')}; {results.get('invocations')} invocations in "
        f"{_number(results.get('duration_s'))} s; options: "
        + ", ".join(
            f"{name}={value}" for name, value in sorted(options.items()) if name != "rerun"
        ),
        "",
        "Rerun: `" + options.get("rerun", "harness run ...") + "`",
        "",
        *_durability_lines(results.get("lost_acknowledged_writes")),
        "## Operations by outcome",
        "",
        "ok = happened, fail = certainly did not happen, info = outcome unknown "
        "(the checker allows both), open = never completed.",
        "",
        _counts_table(results["counts"]),
        "",
        "## Latency of ok operations",
        "",
        _latency_table(results["latency"]) if results["latency"] else "No operation completed ok.",
        "",
        "## Availability",
        "",
        "Share of operations the cluster answered (ok, or a cas-mismatch decided by the data), "
        "by whether they were invoked inside a fault window.",
        "",
        _availability_table(results["availability"]),
        "",
        "## Nemesis events",
        "",
        _events_table(results.get("nemesis_events", [])),
        "",
        "## Checker",
        "",
        "```",
        checker_text(result),
        "```",
        "",
        "Files: history.jsonl (every op), results.json (these numbers), timeline.html "
        "(ops per process, faults shaded), latency.png, rate.png, nodes/*.log.",
        "",
    ]
    return "\n".join(parts)
