"""``harness check HISTORY --model M``: check a recorded history and write its reports.

Reads JSON Lines or Jepsen EDN (harness/history), runs the linearizability
checker for the model (or the total-queue check for ``--model total-queue``),
prints the verdict table, and writes results.json, report.md and
timeline.html next to the history (or into ``--out``; inside a run folder, into
``check/`` so the run's own reports are not overwritten — `harness report` rebuilds those).

Exit codes (API.md): 0 valid, 1 invalid, 2 unknown, or a usage / input error
(a malformed history names its line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOTAL_QUEUE = "total-queue"
TIMELINE_OPS_MAX = 100_000  # above this the timeline shows only the counterexample window


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("history", type=Path, help="history.jsonl or a Jepsen history.edn")
    parser.add_argument(
        "--model",
        required=True,
        help="register | cas-register | kv | mutex | rwlock | queue | set, or total-queue",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="checker budget in seconds (default: none)"
    )
    parser.add_argument(
        "--memory-limit",
        type=float,
        default=None,
        metavar="MIB",
        help="checker memory cap in MiB; past it the verdict is unknown (default: 1024)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the reports (default: the history's)"
    )
    parser.add_argument(
        "--split-keys",
        action="store_true",
        help="split Jepsen independent [key value] values into key and value",
    )
    parser.add_argument(
        "--dead-letters",
        type=Path,
        default=None,
        help="total-queue only: a JSON list of the messages found in the dead-letter queue",
    )


def main(args: argparse.Namespace) -> int:
    from harness.history import HistoryError, read_history
    from harness.history.unfinished import close_open_invokes, open_invokes
    from spec.models import MODELS

    if args.model != TOTAL_QUEUE and args.model not in MODELS:  # before reading a long history
        choices = ", ".join([*sorted(MODELS), TOTAL_QUEUE])
        print(f"harness check: unknown model {args.model!r}; choose one of: {choices}",
              file=sys.stderr)  # fmt: skip
        return 2
    for name, given in (("--timeout", args.timeout), ("--memory-limit", args.memory_limit)):
        if given is not None and not given > 0:
            print(f"harness check: {name} must be a positive number, got {given}", file=sys.stderr)
            return 2
    try:
        all_ops = read_history(args.history, split_keys=args.split_keys, keep_nemesis=True)
        dead_letters = _read_dead_letters(args.dead_letters)
    except HistoryError as error:
        print(f"harness check: {args.history}: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"harness check: {error}", file=sys.stderr)
        return 2
    if not any(op.process != "nemesis" for op in all_ops):
        print(
            f"harness check: {args.history}: no client operations (only nemesis ops, or an "
            "empty file): nothing to check",
            file=sys.stderr,
        )
        return 2
    notes = []
    unfinished = open_invokes(all_ops)
    if unfinished:
        shown = ", ".join(str(op.index) for op in unfinished[:10])
        more = ", ..." if len(unfinished) > 10 else ""
        notes.append(
            f"{len(unfinished)} invoke(s) never completed (index {shown}{more}); checked as "
            "info: they may or may not have taken effect"
        )
        all_ops = close_open_invokes(all_ops, error="never completed (history ended)")
    ops = [op for op in all_ops if op.process != "nemesis"]
    if not args.split_keys and args.model != TOTAL_QUEUE and looks_independent(ops):
        notes.append(
            "every client op has no key and a [key value] pair as value, as Jepsen's "
            "independent workloads write them; without --split-keys all keys are checked as "
            "one object"
        )
    try:
        result = _run_checker(ops, args.model, args.timeout, args.memory_limit, dead_letters)
    except ValueError as error:  # unknown model, or a history the checker cannot pair
        print(f"harness check: {error}", file=sys.stderr)
        return 2
    from harness.check.render import render_result_text

    out = args.out or default_out(args.history)
    try:  # reports first: a reader that stops early (`| head`) must not cost them
        _write_reports(out, args.history, all_ops, result, notes)
    except OSError as error:
        print(f"harness check: cannot write reports to {out}: {error}", file=sys.stderr)
        return 2
    try:
        for note in notes:
            print(f"note: {note}")
        print(render_result_text(result))
        print(f"reports: {out / 'report.md'}, {out / 'timeline.html'}, {out / 'results.json'}")
        sys.stdout.flush()
    except BrokenPipeError:
        from harness.cli import stdout_to_devnull

        stdout_to_devnull()  # the reader went away; the verdict still decides the exit code
    return result.verdict.exit_code


def looks_independent(ops: Sequence[Any]) -> bool:
    """True when every op has no key and a two-element value whose first element is the
    same on an invoke and its completion (Jepsen's ``independent`` tuples); a cas
    ``[old new]`` has different first elements on some pair of ops in any real history."""
    if not ops or any(op.key is not None for op in ops):
        return False
    if not all(isinstance(op.value, list) and len(op.value) == 2 for op in ops):
        return False
    firsts = {_hashable(op.value[0]) for op in ops}
    return len(firsts) < len(ops) / 2  # few distinct keys, many ops


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=repr)


def _read_dead_letters(path: Path | None) -> list[Any]:
    """The ``--dead-letters`` file: a JSON list of messages.

    Raises:
        ValueError: not JSON, or not a list.
    """
    if path is None:
        return []
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: --dead-letters is not JSON: {error}") from None
    if not isinstance(loaded, list):
        raise ValueError(f"{path}: --dead-letters must be a JSON list of messages")
    return loaded


def _run_checker(
    ops: Sequence[Any],
    model: str,
    timeout_s: float | None,
    memory_limit_mib: float | None,
    dead: list,
) -> Any:
    if model == TOTAL_QUEUE:
        from harness.check.total_queue import check_total_queue

        return check_total_queue(ops, dead_lettered=dead)
    from harness.check.linearizable import DEFAULT_MEMORY_LIMIT_BYTES, check_linearizable

    limit = DEFAULT_MEMORY_LIMIT_BYTES
    if memory_limit_mib is not None:
        limit = int(memory_limit_mib * (1 << 20))
    return check_linearizable(ops, model, timeout_s=timeout_s, memory_limit_bytes=limit)


def nemesis_windows(ops: Sequence[Any]) -> list[tuple[int, int, str]]:
    """Fault windows from Jepsen nemesis ops: a ``start*`` op opens one, the next ``stop*`` closes it.

    Jepsen logs each nemesis action as an info (or invoke/info) pair; the
    completion's value says what was done, e.g. ``:isolated {...}``.
    """
    windows: list[tuple[int, int, str]] = []
    opened: tuple[int, str] | None = None
    end = max((op.time for op in ops), default=0)
    for op in ops:
        if op.process != "nemesis" or op.type.value == "invoke":
            continue
        if op.f.startswith("start") and opened is None:
            label = op.f if op.value is None else f"{op.f} {json.dumps(op.value, default=repr)}"
            opened = (op.time, label[:80])
        elif op.f.startswith("stop") and opened is not None:
            windows.append((opened[0], op.time, opened[1]))
            opened = None
    if opened is not None:
        windows.append((opened[0], end, opened[1]))
    return windows


def default_out(history: Path) -> Path:
    """Next to the history, except inside a run folder: there ``check/``, so the run's own
    report.md/results.json/timeline.html (richer: latencies, nemesis, availability) survive."""
    folder = history.parent
    return folder / "check" if (folder / "run.json").exists() else folder


def _write_reports(
    out: Path, history: Path, all_ops: Sequence[Any], result: Any, notes: Sequence[str] = ()
) -> None:
    from harness.check.render import render_result_text, result_to_json
    from harness.report.timeline import render_timeline

    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "history": str(history),
        "ops": len(all_ops),
        "notes": list(notes),
        **result_to_json(result),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    counterexample = result.counterexamples[0] if result.counterexamples else None
    ops = list(all_ops)
    note = ""
    if len(ops) > TIMELINE_OPS_MAX:
        if counterexample is not None and counterexample.window:
            start = min(invoke.time for invoke, _ in counterexample.window)
            end = max((c or i).time for i, c in counterexample.window)
            ops = [op for op in ops if start <= op.time <= end]
            note = " (counterexample window only)"
        else:
            ops = ops[:TIMELINE_OPS_MAX]
            note = f" (first {TIMELINE_OPS_MAX} ops only)"
    html = render_timeline(
        [op for op in ops if op.process != "nemesis"],
        title=f"{history.name}: {result.model} — {result.verdict.value}{note}",
        nemesis_windows=nemesis_windows(all_ops),
        counterexample=counterexample,
    )
    (out / "timeline.html").write_text(html)
    report = [
        f"# Check of {history.name}",
        "",
        f"Verdict: **{result.verdict.value.upper()}** ({result.checker}, model {result.model}).",
        "",
        *(f"Note: {note}." for note in notes),
        *([""] if notes else []),
        "```",
        render_result_text(result).rstrip(),
        "```",
        "",
        "Files: results.json (this result as JSON), timeline.html (ops per process over time"
        + ("; the counterexample is highlighted" if counterexample else "")
        + ").",
        "",
    ]
    (out / "report.md").write_text("\n".join(report))
