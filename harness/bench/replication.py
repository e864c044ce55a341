"""Raft replication measured the way PySyncObj measures itself, both systems in one run.

Commands are proposed inside the leader process at concurrency 1, 32, 512
and 8192 with payloads of 16 B and 1 KiB, on 3 node processes on 127.0.0.1.
Sinkron is measured twice: with fsync (the default, and the honest setting:
nothing is acknowledged before it is durable on a quorum) and with fsync off
(like for like: PySyncObj's journal is an mmap it never fsyncs). PySyncObj
runs in journal mode, plain and batched (appendEntriesUseBatch).

Sinkron's leader admits at most SINKRON_MAX_INFLIGHT_PROPOSALS (default 1024)
unapplied proposals; at concurrency 8192 the rest are refused (Overloaded) and
the driver retries them in FIFO turns, counting every refusal in
``rejected_retried``; latency counts from when a client first wanted to write,
so turns spent waiting are in it (PySyncObj queues all 8192 internally). Both
drivers report the leader process's CPU time per write.

The whole plan runs SINKRON_BENCH_REPEATS rounds (3 by default); a row is the
median round, and a target is judged round by round, each round pairing runs
made back to back (``median_rows``, ``summary``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.backends.ports import free_ports
from harness.bench._cluster import no_results

TITLE = "Raft replication inside the leader process: Sinkron vs PySyncObj (3 local processes)"
CONCURRENCY = (1, 32, 512, 8192)
PAYLOAD_BYTES = (16, 1024)
SECONDS = float(os.environ.get("SINKRON_BENCH_SECONDS", "4"))
# Rounds of the whole plan; each row is the median round (see ``median_rows``).
REPEATS = int(os.environ.get("SINKRON_BENCH_REPEATS", "3"))


def _plan() -> list[dict[str, Any]]:
    return [
        {"concurrency": c, "payload_bytes": p, "seconds": SECONDS}
        for p in PAYLOAD_BYTES
        for c in CONCURRENCY
    ]


def run_sinkron(plan: list[dict[str, Any]], *, fsync: bool) -> list[dict[str, Any]]:
    ids = ["n1", "n2", "n3"]
    free = free_ports(2 * len(ids))  # one call: the ports are distinct
    ports = dict(zip(ids, free[: len(ids)], strict=True))
    http_ports = dict(zip(ids, free[len(ids) :], strict=True))
    peers = ",".join(f"{node}=127.0.0.1:{ports[node]}" for node in ids)
    with tempfile.TemporaryDirectory(prefix="sinkron-repl-bench-") as tmp:
        workdir = Path(tmp)
        plan_file, out_file = workdir / "plan.json", workdir / "out.json"
        plan_file.write_text(json.dumps(plan))
        processes = []
        for node in ids:
            env = {
                **os.environ,
                "SINKRON_NODE_ID": node,
                "SINKRON_PEERS": peers,
                "SINKRON_PEER_HOST": "127.0.0.1",
                "SINKRON_PEER_PORT": str(ports[node]),
                "SINKRON_HTTP_PORT": str(http_ports[node]),
                "SINKRON_DATA_DIR": str(workdir / node),
                "SINKRON_CLUSTER_ID": "bench",
                "SINKRON_CLUSTER_SECRET": "bench-secret",
                "SINKRON_FSYNC": "1" if fsync else "0",
                "SINKRON_LOG_LEVEL": "warning",
            }
            command = [
                sys.executable,
                "-m",
                "harness.bench._sinkron_node",
                "--plan",
                str(plan_file),
                "--out",
                str(out_file),
            ]
            log = open(workdir / f"{node}.log", "wb")  # noqa: SIM115 - owned by the process
            processes.append(
                (subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT), log)
            )
        budget = 60 + sum(case["seconds"] + 15 for case in plan)
        deadline = time.monotonic() + budget
        try:
            while not out_file.exists() and time.monotonic() < deadline:
                if all(process.poll() is not None for process, _ in processes):
                    break
                time.sleep(0.2)
            for process, _ in processes:  # results are in: give each node a moment to stop
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
        finally:
            for process, log in processes:
                if process.poll() is None:
                    process.kill()
                log.close()
        if not out_file.exists():
            logs = {node: workdir / f"{node}.log" for node in ids}
            return no_results("Sinkron", plan, budget, logs)
        return list(json.loads(out_file.read_text()))


def run() -> list[dict[str, Any]]:
    """Every case on every system, REPEATS rounds; one row per case with the median run.

    Case by case, not system by system: this VM's speed drifts by tens of percent over
    minutes, and running all of Sinkron's cases before all of PySyncObj's put that drift
    between the two halves of every ratio the targets are judged on. Each round runs
    every case once on every system (a fresh cluster each); each row keeps its rounds'
    rates in ``_runs`` (JSON only), so the targets can be judged round by round too:
    the systems of one case in one round ran back to back, minutes apart from the other
    rounds.
    """
    have_pysyncobj = importlib.util.find_spec("pysyncobj") is not None
    if have_pysyncobj:
        from harness.bench._pysyncobj_driver import run_pysyncobj
    measured: list[dict[str, Any]] = []
    for _ in range(REPEATS):
        for case in _plan():
            for fsync in (True, False):
                system = f"sinkron fsync={'on' if fsync else 'off'}"
                measured += [{"system": system, **row} for row in run_sinkron([case], fsync=fsync)]
            if not have_pysyncobj:
                continue
            for batch in (False, True):
                system = f"pysyncobj journal{' batched' if batch else ''}"
                measured += [
                    {"system": system, **row} for row in run_pysyncobj([case], batch=batch)
                ]
        measured += floor_rows()
    rows = median_rows(measured)
    if not have_pysyncobj:
        rows.append({"system": "pysyncobj (not installed: pip install .[bench])"})
    return rows


SUMMED = ("failures", "rejected_retried", "divergence_warnings")  # counts: every round's
WORST = ("loop_stall_max_ms",)  # the worst round's


def median_rows(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, concurrency, payload): medians of its rounds, in first-seen order.

    Counts are summed over the rounds and the loop stall is the worst round's; every
    other number is the median round's value (``statistics.median``); ``runs`` says
    how many rounds there were, ``ops_per_s_min``/``_max`` how far they spread, and
    ``_runs`` (left out of the printed table) keeps each round's rate and p99 in order.
    A round that measured nothing (a ``note`` instead of a rate) is kept in ``_runs``
    but left out of the medians.
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in measured:
        key = (row["system"], row.get("concurrency"), row.get("payload_bytes"))
        groups.setdefault(key, []).append(row)
    rows = []
    for (system, concurrency, payload), rounds in groups.items():
        rated = [r for r in rounds if r.get("ops_per_s")]
        row: dict[str, Any] = {
            "system": system,
            "concurrency": concurrency,
            "payload_bytes": payload,
        }
        keys = dict.fromkeys(k for r in rounds for k in r)  # every round's, in order
        numbers = [k for k in keys if k not in row and k not in ("seconds", "note")]
        for key in numbers:
            values = [r[key] for r in rated if isinstance(r.get(key), int | float)]
            if not values:
                row[key] = None
            elif key in SUMMED:
                row[key] = sum(values)
            elif key in WORST:
                row[key] = max(values)
            else:
                row[key] = statistics.median(values)
        rates = [r["ops_per_s"] for r in rated]
        row["ops_per_s_min"] = min(rates, default=None)
        row["ops_per_s_max"] = max(rates, default=None)
        row["runs"] = len(rated)
        notes = sorted({r["note"] for r in rounds if r.get("note")})
        if notes:
            row["note"] = "; ".join(notes)
        row["_runs"] = [
            {"ops_per_s": r.get("ops_per_s"), "p99_ms": r.get("p99_ms")} for r in rounds
        ]
        rows.append(row)
    return rows


PYSYNCOBJ_MODES = ("pysyncobj journal", "pysyncobj journal batched")
FLOOR_SYSTEMS = {"sqlite": "floor: no Raft, SQLite fsync", "none": "floor: no Raft, no disk"}


def floor_rows() -> list[dict[str, Any]]:
    """The least any design can do at c=1 on this machine (fsync_floor.py), in this same run.

    With fsync, a write is durable on 2 of 3 processes before it counts; the floor is
    that round trip with nothing else (no Raft, no asyncio): when it is below
    PySyncObj's rate, "fsync on >= PySyncObj at c=1" is out of reach for any design.
    """
    from harness.bench.fsync_floor import run_case as floor_case

    rows = []
    for payload in PAYLOAD_BYTES:
        for mode, system in FLOOR_SYSTEMS.items():
            measured = floor_case(mode, payload, SECONDS)
            rows.append(
                {
                    "system": system,
                    "concurrency": 1,
                    "payload_bytes": payload,
                    **{k: measured[k] for k in ("ops_per_s", "p50_ms", "p99_ms")},
                }
            )
    return rows


_NOTES = """\
## How to read it

Command: `flock /tmp/sinkron-bench.lock harness bench replication` (4 s per case after a
1 s warm-up, each case on a fresh 3-process cluster of each system, the systems back to
back per case; the whole plan `SINKRON_BENCH_REPEATS` times, 3 by default). Each row is
the median of its rounds (`runs`; `ops_per_s_min`/`_max` give their spread; counts are
summed, the loop stall is the worst round's; every round's rate and p99 are in
replication.json). The targets compare the systems round by round, because this VM's
speed drifts by tens of percent over minutes and a ratio near a threshold is not decided
by one run. Earlier runs and what each change bought are in
[replication-notes.md](replication-notes.md).

- Sinkron's leader admits at most `SINKRON_MAX_INFLIGHT_PROPOSALS` (1024) unapplied
  proposals; at c=8192 the rest are refused (`Overloaded`) and retried in FIFO turns
  (`rejected_retried`); latency counts from when a client first wanted to write.
  PySyncObj queues all 8192 inside the leader.
- `loop_stall_max_ms`: how late a 10 ms timer fired at worst on the leader's event loop.
- `leader_cpu_us_per_op`: CPU time of the leader process (all threads, user+system, the
  kernel's fsync work included) per write.
- `divergence_warnings`: PySyncObj's own "may have diverged" log warnings in that case's run.
- `floor: ...` rows (c=1 only): three plain processes, a blocking socket round trip to
  both followers and, with fsync, one SQLite WAL commit per write on each
  (harness/bench/fsync_floor.py): the least any replicated write can cost here. The
  target columns give Sinkron's ratio and, in brackets, the floor's.
"""


def paired_ratios(mine: dict[str, Any], theirs: dict[str, Any], key: str) -> list[float]:
    """``mine[key] / theirs[key]`` round by round (the two ran back to back in each round)."""
    return [
        a[key] / b[key]
        for a, b in zip(mine.get("_runs", [mine]), theirs.get("_runs", [theirs]), strict=False)
        if a.get(key) and b.get(key)
    ]


def judge(ratios: list[float], met: Callable[[float], bool]) -> tuple[bool, str]:
    """A target is met when the median round meets it; the text says how many rounds did."""
    if not ratios:
        return False, "not measured"
    median = statistics.median(ratios)
    rounds = sum(met(r) for r in ratios)
    return met(median), f"{rounds}/{len(ratios)} rounds"


def summary(rows: list[dict[str, Any]]) -> str:
    """The issue's targets, judged on this run's rows (harness bench appends it to the table).

    Each cell compares the two systems round by round (``paired_ratios``) and is
    met when the median round's ratio is (``judge``); it also says how many rounds
    met it and the range of the rounds' ratios, since one round decides nothing near
    a threshold on this VM.
    """

    def rate(system: str, concurrency: int, payload: int) -> dict[str, Any] | None:
        for row in rows:
            if (row["system"], row["concurrency"], row["payload_bytes"]) == (
                system,
                concurrency,
                payload,
            ) and row.get("ops_per_s"):
                return row
        return None

    lines = [
        "## Targets (issue 4), this run",
        "",
        "PySyncObj is taken at its best for each case: the journal mode (per command or",
        "batched appends) with the higher median rate. Each cell: met or not by the median",
        "round, the median round's ratio (or p99s), how many rounds met it, the rounds' range,",
        "and the floor's ratio where there is one.",
        "",
        "| concurrency | payload | PySyncObj mode | fsync on >= PySyncObj | fsync on p99 < PySyncObj's | fsync off >= 2x PySyncObj |",
        "|---|---|---|---|---|---|",
    ]
    for concurrency in sorted({r["concurrency"] for r in rows if r.get("concurrency")}):
        for payload in sorted({r["payload_bytes"] for r in rows if r.get("payload_bytes")}):
            # PySyncObj at its best for this load: whichever of its two modes (per-command
            # or batched appends, both journal) had the higher median rate. Batched wins
            # at c=8192 only (the issue quotes PySyncObj's c=8192 figure in that mode).
            modes = [rate(m, concurrency, payload) for m in PYSYNCOBJ_MODES]
            theirs = max((m for m in modes if m), key=lambda m: m["ops_per_s"], default=None)
            on = rate("sinkron fsync=on", concurrency, payload)
            off = rate("sinkron fsync=off", concurrency, payload)
            if theirs is None:
                continue
            mode = "batched" if theirs["system"].endswith("batched") else "per command"
            cells = []
            for mine, wanted in ((on, 1.0), (on, None), (off, 2.0)):
                if mine is None:
                    cells.append("not measured")
                elif wanted is None:
                    # p99 of theirs over p99 of mine: above 1 means ours is lower.
                    ratios = paired_ratios(theirs, mine, "p99_ms")
                    met, rounds = judge(ratios, lambda r: r > 1.0)
                    floor = rate(FLOOR_SYSTEMS["sqlite"], concurrency, payload)
                    bound = f"; floor {floor['p99_ms']:.3g}" if floor else ""
                    cells.append(
                        f"{'yes' if met else '**NO**'} ({mine['p99_ms']:.3g} vs "
                        f"{theirs['p99_ms']:.3g} ms; {rounds}{bound})"
                    )
                else:
                    ratios = paired_ratios(mine, theirs, "ops_per_s")
                    met, rounds = judge(ratios, lambda r, w=wanted: r >= w)
                    floor = rate(
                        FLOOR_SYSTEMS["sqlite" if mine is on else "none"], concurrency, payload
                    )
                    bound = (
                        f"; floor {floor['ops_per_s'] / theirs['ops_per_s']:.2f}x" if floor else ""
                    )
                    spread = f" {min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else ""
                    median = f"{statistics.median(ratios):.2f}x" if ratios else "-"
                    cells.append(
                        f"{'yes' if met else '**NO**'} ({median}; {rounds}{spread}{bound})"
                    )
            lines.append(f"| {concurrency} | {payload} B | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _NOTES
