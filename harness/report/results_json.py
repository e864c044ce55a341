"""results.json: the machine-readable summary of a run.

Theory of operation: everything here is computed from the history (the ops),
the run metadata (options, seed, nemesis windows and events) and the checker
result, so ``harness report`` can rebuild it from the files of a run folder.

Definitions used in the numbers:
  * an *invocation* is an ``invoke`` line of a client process (the nemesis
    process is not a client);
  * latency is completion time minus invoke time, in milliseconds, over the
    ops that completed ``ok`` (fail and info latencies are mostly timeouts);
  * availability is answered / (ok + fail + info) over the client ops whose
    invoke fell inside a nemesis window ("during faults") or outside every
    window, where *answered* = ok, or a fail decided by the data
    (cas-mismatch), as opposed to unavailable / timed out.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check.verdict import CheckResult
from harness.history.ops import Op, OpType

NEMESIS_PROCESS = "nemesis"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pair:
    """A client op: its invoke and its completion (None if it never completed)."""

    invoke: Op
    completion: Op | None

    @property
    def outcome(self) -> str:
        return self.completion.type.value if self.completion is not None else "open"

    @property
    def latency_ms(self) -> float | None:
        if self.completion is None:
            return None
        return (self.completion.time - self.invoke.time) / 1e6


def client_ops(ops: Sequence[Op]) -> list[Op]:
    return [op for op in ops if op.process != NEMESIS_PROCESS]


def pair_ops(ops: Sequence[Op]) -> list[Pair]:
    """Pair each client invoke with its process's next completion, in invoke order."""
    open_invokes: dict[int | str, Op] = {}
    pairs: dict[int, Pair] = {}
    for op in client_ops(ops):
        if op.type is OpType.INVOKE:
            open_invokes[op.process] = op
            pairs[op.index] = Pair(invoke=op, completion=None)
        else:
            invoke = open_invokes.pop(op.process, None)
            if invoke is not None:
                pairs[invoke.index] = Pair(invoke=invoke, completion=op)
    return list(pairs.values())


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile (no interpolation: every reported number was measured)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def latency_quantiles(pairs: Sequence[Pair]) -> dict[str, dict[str, float | int | None]]:
    by_f: dict[str, list[float]] = defaultdict(list)
    for pair in pairs:
        if pair.outcome == "ok" and pair.latency_ms is not None:
            by_f[pair.invoke.f].append(pair.latency_ms)
            by_f["all"].append(pair.latency_ms)
    return {
        f: {
            "count": len(values),
            "p50_ms": quantile(values, 0.50),
            "p95_ms": quantile(values, 0.95),
            "p99_ms": quantile(values, 0.99),
            "max_ms": max(values),
        }
        for f, values in sorted(by_f.items())
    }


def counts_by_outcome(pairs: Sequence[Pair]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for pair in pairs:
        table[pair.invoke.f][pair.outcome] += 1
        table["all"][pair.outcome] += 1
    return {f: dict(counter) for f, counter in sorted(table.items())}


def in_windows(time_ns: int, windows: Sequence[tuple[int, int, str]]) -> bool:
    return any(start <= time_ns <= end for start, end, _label in windows)


ANSWERED_FAILURES = frozenset({"cas-mismatch", "not-found"})  # definite answers from the state


def availability(pairs: Sequence[Pair], windows: Sequence[tuple[int, int, str]]) -> dict[str, Any]:
    """Share of completed ops the cluster *answered*: ok, or a refusal decided by the data.

    A cas-mismatch is the cluster working correctly, so it counts as
    available; 503 unavailable, connection failures and unknown outcomes do not.
    """
    groups: dict[str, Counter[str]] = {"during_faults": Counter(), "outside_faults": Counter()}
    for pair in pairs:
        if pair.completion is None:
            continue
        group = "during_faults" if in_windows(pair.invoke.time, windows) else "outside_faults"
        groups[group][pair.outcome] += 1
        if pair.outcome == "ok" or (
            pair.outcome == "fail" and pair.completion.error in ANSWERED_FAILURES
        ):
            groups[group]["answered"] += 1
    result: dict[str, Any] = {}
    for group, counter in groups.items():
        total = counter["ok"] + counter["fail"] + counter["info"]
        result[group] = {
            "ops": total,
            "ok": counter["ok"],
            "fail": counter["fail"],
            "info": counter["info"],
            "answered": counter["answered"],
            "availability": (counter["answered"] / total) if total else None,
        }
    return result


def checker_json(result: CheckResult) -> dict[str, Any]:
    """HIST's ``result_to_json`` when present (it renders counterexamples), else the basics."""
    try:
        from harness.check.render import result_to_json
    except ImportError:
        return {
            "checker": result.checker,
            "model": result.model,
            "verdict": result.verdict.value,
            "reasons": list(result.reasons),
            "counts": dict(result.counts),
            "elapsed_s": result.elapsed_s,
        }
    return result_to_json(result)


def _lost_writes(ops: Sequence[Op], metadata: dict[str, Any]) -> list[str] | None:
    """The durability audit (harness/run/audit.py) for register-like workloads, else None."""
    if metadata.get("model") not in {"kv", "register", "cas-register"}:
        return None
    from harness.run.audit import lost_acknowledged_writes

    return [str(lost) for lost in lost_acknowledged_writes(ops)]


def build_results(
    ops: Sequence[Op], metadata: dict[str, Any], result: CheckResult
) -> dict[str, Any]:
    windows = [tuple(window) for window in metadata.get("windows", [])]
    pairs = pair_ops(ops)
    return {
        "verdict": result.verdict.value,
        "workload": metadata.get("workload"),
        "nemesis": metadata.get("nemesis"),
        "seed": metadata.get("seed"),
        "options": metadata.get("options", {}),
        "invocations": len(pairs),
        "counts": counts_by_outcome(pairs),
        "latency": latency_quantiles(pairs),
        "availability": availability(pairs, windows),
        "nemesis_events": metadata.get("nemesis_events", []),
        "nemesis_windows": [list(window) for window in windows],
        "final_reads": metadata.get("final_reads", []),
        "lost_acknowledged_writes": _lost_writes(ops, metadata),
        "duration_s": metadata.get("duration_s"),
        "checker": checker_json(result),
    }


def write_results_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
