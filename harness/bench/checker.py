"""Benchmark of the linearizability checker on synthetic register histories.

Each case generates a history with harness.check.wgl_histories (valid by
construction, or with one planted stale read) and checks it with the "kv"
model in a fresh subprocess, so ``peak_mb`` is that case's own peak RSS
(interpreter + history + search). Every case is capped at 60 s of checking.
The grid covers 1k/10k/100k ops, 5/50 clients, 1/10 keys, 0/5% info ops,
valid/invalid (one planted stale read), plus the three shapes where Porcupine
blows up (measured by the project owner on this machine): (a) one key, 50
clients, 1,000 ops; (b) 5% crashed ops, invalid; (c) 100,000 ops on one key;
and "inversion" cases whose violation (two sequential reads seeing values in
an impossible order) the O(n log n) refutation cannot see, so the WGL search
itself must exhaust every configuration before it; and "repeated-values"
cases (writes draw from 0..4, knossos's classic test) where a read's value
has many possible writers; their invalid variants plant a read of a value
whose every possible writer was certainly overwritten
(wgl_histories.plant_overwritten_read), since with 0..4 changing a read alone
rarely makes a history invalid.

Run: ``python -m harness.bench.checker [--quick] [--only S] [--out results/bench]``.
Each row says which Porcupine shape it stands for and whether its target was
met (``judge``); ``--out`` writes the table with a targets summary.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

CASE_TIMEOUT_S = 60.0


def _grid(quick: bool) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    for ops in sizes:
        for clients in (5, 50):
            for keys in (1, 10):
                for info_pct in (0, 5):
                    for expected in ("valid", "invalid"):
                        case = f"grid-{ops // 1000}k-c{clients}-k{keys}-i{info_pct}-{expected}"
                        cases.append(
                            {
                                "case": case,
                                "ops": ops,
                                "clients": clients,
                                "keys": keys,
                                "info_pct": info_pct,
                                "expected": expected,
                            }
                        )
    hard = [
        ("porcupine-a-50clients-valid", 1_000, 50, 1, 0, "valid"),
        ("porcupine-a-50clients-invalid", 1_000, 50, 1, 0, "invalid"),
        ("porcupine-b-5pct-info-invalid", 10_000, 10, 1, 5, "invalid"),
        ("porcupine-b-5pct-info-50c-invalid", 10_000, 50, 1, 5, "invalid"),
        ("porcupine-c-100k-1key-valid", 100_000, 5, 1, 0, "valid"),
        ("porcupine-c-100k-1key-invalid", 100_000, 5, 1, 0, "invalid"),
        ("easy-10k-5clients-1key", 10_000, 5, 1, 0, "valid"),
        ("inversion-a-1k-50clients-invalid", 1_000, 50, 1, 0, "invalid"),
        ("inversion-10k-50clients-invalid", 10_000, 50, 1, 5, "invalid"),
        ("inversion-100k-5clients-invalid", 100_000, 5, 1, 5, "invalid"),
        ("repeated-values-1k-10clients-valid", 1_000, 10, 1, 5, "valid"),
        ("repeated-values-1k-50clients-valid", 1_000, 50, 1, 0, "valid"),
        ("repeated-values-1k-50clients-invalid", 1_000, 50, 1, 0, "invalid"),
        ("repeated-values-1k-50clients-i5-valid", 1_000, 50, 1, 5, "valid"),
        ("repeated-values-1k-50clients-i5-invalid", 1_000, 50, 1, 5, "invalid"),
        ("repeated-values-10k-50clients-valid", 10_000, 50, 1, 0, "valid"),
        ("repeated-values-10k-50clients-i5-valid", 10_000, 50, 1, 5, "valid"),
        ("repeated-values-10k-50clients-i5-invalid", 10_000, 50, 1, 5, "invalid"),
    ]
    for case, ops, clients, keys, info_pct, expected in hard:
        cases.append(
            {
                "case": case,
                "ops": ops,
                "clients": clients,
                "keys": keys,
                "info_pct": info_pct,
                "expected": expected,
                "think_max": 2 if "-a-" in case or "50clients" in case else None,
                "plant": _plant_of(case),
                "value_range": 5 if case.startswith("repeated") else None,
            }
        )
    return cases


def _plant_of(case: str) -> str:
    """How an invalid case is made: unique values allow a plain stale read."""
    if case.startswith("inversion"):
        return "inversion"
    return "overwritten" if case.startswith("repeated") else "stale"


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Generate and check one case in this process (called inside the subprocess)."""
    import random
    import resource
    import time

    from harness.check.linearizable import check_linearizable
    from harness.check.wgl_histories import (
        plant_overwritten_read,
        plant_stale_read,
        simulate_register,
    )

    rng = random.Random(case["case"])
    history = simulate_register(
        rng,
        ops=case["ops"],
        clients=case["clients"],
        keys=case["keys"],
        info_fraction=case["info_pct"] / 100,
        cas_fraction=0.2,
        think_max=case.get("think_max"),
        value_range=case.get("value_range"),
    )
    if case["expected"] == "invalid" and case.get("plant") == "inversion":
        history = _hard_inversion(rng, history)
    elif case["expected"] == "invalid" and case.get("plant") == "overwritten":
        overwritten = plant_overwritten_read(rng, history)
        assert overwritten is not None, f"{case['case']}: no overwritten read could be planted"
        history = overwritten
    elif case["expected"] == "invalid":
        planted = plant_stale_read(rng, history)
        assert planted is not None, f"{case['case']}: no stale read could be planted"
        history = planted
    started = time.monotonic()
    result = check_linearizable(history, "kv", timeout_s=CASE_TIMEOUT_S)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        **{k: case[k] for k in ("case", "ops", "clients", "keys", "info_pct", "expected")},
        "verdict": result.verdict.value,
        "seconds": round(seconds, 3),
        "peak_mb": round(max(peak, children) / 2**20, 1),
    }


def _hard_inversion(rng: Any, history: list[Any]) -> list[Any]:
    """A read inversion that the O(n log n) refutation cannot see: the search must prove it."""
    from harness.check.wgl_histories import read_inversions
    from harness.check.wgl_prepare import pair_history, shrink
    from harness.check.wgl_refute import refute
    from spec.models import MODELS

    model = MODELS["kv"]
    first = None
    for candidate in read_inversions(rng, history):
        first = first or candidate
        calls = [c for c in pair_history(candidate).calls]
        if refute(model, shrink(model, calls)) is None:
            return candidate
    assert first is not None, "no read inversion could be planted"
    return first


def _in_subprocess(case: dict[str, Any]) -> dict[str, Any]:
    code = (
        "import json, sys; from harness.bench.checker import run_case; "
        "print(json.dumps(run_case(json.loads(sys.argv[1]))))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, json.dumps(case)],
            capture_output=True,
            text=True,
            timeout=CASE_TIMEOUT_S * 2 + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {**case, "verdict": "bench-timeout", "seconds": None, "peak_mb": None}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {**case, "verdict": f"error: {tail}", "seconds": None, "peak_mb": None}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return row


# The Porcupine shapes of issue 3 (measured with Porcupine on this machine) and our targets.
SHAPES = {
    "a": "one key, 50 clients, 1,000 ops (Porcupine: 23 s, 2.3 GB valid; no verdict "
    "after 120 s, 9 GB invalid)",
    "b": "5% crashed (info) ops, invalid (Porcupine: no verdict in 60 s, 4.4 GB)",
    "c": "100,000 ops on one key (Porcupine: 0.93 s, 1.2 GB valid; 2.3 s, 3.0 GB invalid)",
    "easy": "10k ops, 5 clients, one key (Porcupine: 22 ms)",
    "-": "no Porcupine figure",
}
HARD_LIMIT_S = 10.0
HARD_LIMIT_MB = 1024.0
EASY_LIMIT_S = 0.22  # 10x Porcupine's 22 ms


def shape_of(row: dict[str, Any]) -> str:
    """Which Porcupine shape a row stands for (see SHAPES)."""
    if row["ops"] == 10_000 and row["clients"] == 5 and row["keys"] == 1 and not row["info_pct"]:
        return "easy" if row["expected"] == "valid" else "-"
    if row["keys"] == 1 and row["ops"] == 100_000:
        return "c"
    if row["info_pct"] and row["expected"] == "invalid":
        return "b"
    if row["keys"] == 1 and row["clients"] == 50 and row["ops"] == 1_000:
        return "a"
    return "-"


def judge(row: dict[str, Any]) -> dict[str, Any]:
    """Add the row's shape and whether it met its target.

    Target: the expected verdict in under 10 s and 1 GB peak (every row), and
    for the easy shape also no more than 10x Porcupine's time.
    """
    shape = shape_of(row)
    limit = EASY_LIMIT_S if shape == "easy" else HARD_LIMIT_S
    met = (
        row["verdict"] == row["expected"]
        and row["seconds"] is not None
        and row["seconds"] < limit
        and row["peak_mb"] < HARD_LIMIT_MB
    )
    return {**row, "shape": shape, "target_met": "yes" if met else "NO"}


def targets_section(rows: list[dict[str, Any]]) -> str:
    """A short markdown summary: per shape, the rows and whether all met the target."""
    lines = [
        "## Targets",
        "",
        f"Every row: the expected verdict in under {HARD_LIMIT_S:g} s and "
        f"{HARD_LIMIT_MB:g} MB peak RSS (the whole checking subprocess); the easy shape "
        f"also within {EASY_LIMIT_S * 1000:g} ms, 10x Porcupine's 22 ms.",
        "",
    ]
    for shape, text in SHAPES.items():
        mine = [r for r in rows if r["shape"] == shape]
        if not mine:
            continue
        missed = [r["case"] for r in mine if r["target_met"] != "yes"]
        verdict = "met by all" if not missed else f"NOT met by {', '.join(missed)}"
        worst = max((r["seconds"] or math.inf) for r in mine)
        lines.append(f"- shape {shape}: {text}. {len(mine)} rows, slowest {worst:g} s: {verdict}.")
    lines += [
        "",
        "Notes that outlive one run (A/B figures, limits): [checker-notes.md](checker-notes.md).",
    ]
    return "\n".join(lines) + "\n"


summary = targets_section  # harness bench appends it to checker.md


def run(quick: bool = False, only: str = "", progress: bool = False) -> list[dict[str, Any]]:
    """One row per case (those whose name contains ``only``): {case, ops, ..., verdict,
    seconds, peak_mb, shape, target_met}; ``progress`` prints each row to stderr."""
    rows = []
    for case in _grid(quick):
        if only not in case["case"]:
            continue
        row = _in_subprocess(case)
        for knob in ("think_max", "plant", "value_range"):
            row.pop(knob, None)
        rows.append(judge(row))
        if progress:
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    from harness.commands.bench import write_bench_files

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-op grid rows")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--out", type=Path, help="also write checker.md and checker.json here")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.only, progress=True)
    table = tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3g")
    print(table)
    print()
    print(summary(rows))
    if args.out is not None:
        write_bench_files(args.out, "checker", "checker", rows, table, summary(rows))
    wrong = [r for r in rows if r["verdict"] not in (r["expected"], "unknown")]
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
