"""A CheckResult as text for a terminal or report.md, and as JSON for results.json.

Theory of operation: a verdict is only useful if a person can see why. On
ILLEGAL the counterexample is printed the way one reads a Knossos/porcupine
failure: the ops of the failing window grouped by process with their history
indices (``#invoke..#completion``, meaningful even for Knossos histories that
have no times) and times (what overlapped), the longest partial linearization with the model state
after each op (how far an order got), and the ops none of which could be
placed next (where it broke), followed by the checker's explanation.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tabulate import tabulate

from harness.check.verdict import CheckResult, Counterexample
from harness.history.ops import Op

VALUE_CHARS_MAX = 60


def render_result_text(result: CheckResult) -> str:
    """The verdict table, counts, reasons and (on ILLEGAL) each counterexample as text."""
    rows = [
        [
            result.checker,
            result.model,
            result.verdict.value.upper(),
            f"{result.elapsed_s:.3f}s",
            _memory(result.peak_memory_bytes),
        ]
    ]
    parts = [tabulate(rows, headers=["checker", "model", "verdict", "elapsed", "peak memory"])]
    if result.counts:
        parts.append(tabulate(sorted(result.counts.items()), headers=["count", "value"]))
    explained = {counterexample.explanation for counterexample in result.counterexamples}
    reasons = [reason for reason in result.reasons if reason not in explained]
    if reasons:  # a counterexample's explanation is printed with it, not twice
        parts.append("\n".join(f"- {reason}" for reason in reasons))
    for number, counterexample in enumerate(result.counterexamples, start=1):
        parts.append(_counterexample_text(counterexample, number))
    return "\n\n".join(parts) + "\n"


def _memory(bytes_count: int) -> str:
    return f"{bytes_count / (1 << 20):.1f} MiB" if bytes_count else "-"


def _short(value: Any) -> str:
    text = json.dumps(_json_safe(value), ensure_ascii=False)
    return text if len(text) <= VALUE_CHARS_MAX else text[: VALUE_CHARS_MAX - 1] + "…"


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.6f}s"


def _op_text(invoke: Op, completion: Op | None = None) -> str:
    """``read "k1" -> ok 3``, ``write 3 -> ok 3``, ``cas [1, 2] -> info``: the argument when
    there is one, the completion's value when there is one (a Knossos read invoke may carry the
    value too, so equal values are still shown: no guessing which side a value belongs to)."""
    text = _op_text_invoke(invoke)
    if completion is None:
        return text + " -> (never completed)"
    returned = "" if completion.value is None else f" {_short(completion.value)}"
    return f"{text} -> {completion.type.value}{returned}"


def _counterexample_text(counterexample: Counterexample, number: int) -> str:
    key = "" if counterexample.key is None else f" (key {_short(counterexample.key)})"
    lines = [f"Counterexample {number}{key}", f"  {counterexample.explanation}", ""]
    lines.append("  Window, per process (invoke .. completion):")
    stuck_keys = {(op.process, op.index) for op in counterexample.stuck}
    blocked = counterexample.blocked
    blocked_key = None if blocked is None else (blocked.process, blocked.index)
    by_process: dict[Any, list[tuple[Op, Op | None]]] = {}
    for invoke, completion in counterexample.window:
        by_process.setdefault(invoke.process, []).append((invoke, completion))
    for process in sorted(by_process, key=lambda p: (isinstance(p, str), str(p).zfill(12))):
        lines.append(f"    process {process}:")
        for invoke, completion in sorted(by_process[process], key=lambda pair: pair[0].time):
            end = "…" if completion is None else _seconds(completion.time)
            span = f"#{invoke.index}" + ("" if completion is None else f"..#{completion.index}")
            marker = ""
            if (invoke.process, invoke.index) == blocked_key:
                marker = "  <-- cannot take effect"
            elif (invoke.process, invoke.index) in stuck_keys:
                marker = "  <-- stuck"
            lines.append(
                f"      {span:<14} [{_seconds(invoke.time)} .. {end}] "
                f"{_op_text(invoke, completion)}{marker}"
            )
    lines.append("")
    if not counterexample.linearized and not counterexample.stuck:
        # The checker proved the verdict from the values alone, without a search.
        lines.append("  No search was needed: the explanation above holds in every order.")
        return "\n".join(lines)
    lines.append("  Longest partial linearization (model state after each op):")
    if not counterexample.linearized:
        lines.append("    (no op could be placed first)")
    for position, (op, state) in enumerate(counterexample.linearized, start=1):
        lines.append(
            f"    {position:>3}. p{op.process} #{op.index} {_op_text_invoke(op)}  => {state}"
        )
    lines.append("")
    lines.append("  None of these can be placed next:")
    for op in counterexample.stuck:
        lines.append(
            f"    p{op.process} #{op.index} {_op_text_invoke(op)} (invoked at {_seconds(op.time)})"
        )
    if not counterexample.stuck:
        lines.append("    (the search kept no candidates; see the explanation above)")
    return "\n".join(lines)


def _op_text_invoke(op: Op) -> str:
    key = "" if op.key is None else f" {_short(op.key)}"
    value = "" if op.value is None else f" {_short(op.value)}"
    return f"{op.f}{key}{value}"


# ---------------------------------------------------------------------------- JSON


def _json_safe(value: Any) -> Any:
    """Plain JSON types only: tuples and sets become lists, odd objects their repr."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_json_safe(item) for item in value), key=repr)
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else json.dumps(_json_safe(k)): _json_safe(v)
            for k, v in value.items()
        }
    if isinstance(value, Op):
        return _json_safe(value.to_json_dict())
    if hasattr(value, "value") and hasattr(value, "name"):  # an Enum
        return _json_safe(value.value)
    return repr(value)


def counterexample_to_json(counterexample: Counterexample) -> dict[str, Any]:
    return {
        "key": _json_safe(counterexample.key),
        "explanation": counterexample.explanation,
        "window": [
            {"invoke": _json_safe(invoke), "completion": _json_safe(completion)}
            for invoke, completion in counterexample.window
        ],
        "linearized": [
            {"op": _json_safe(op), "state": state} for op, state in counterexample.linearized
        ],
        "stuck": [_json_safe(op) for op in counterexample.stuck],
        "blocked": _json_safe(counterexample.blocked),
    }


def result_to_json(result: CheckResult) -> dict[str, Any]:
    """``result`` as a dict that ``json.dumps`` accepts (no tuples, sets or custom types)."""
    return {
        "checker": result.checker,
        "model": result.model,
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "reasons": list(result.reasons),
        "counts": _json_safe(result.counts),
        "counterexamples": [counterexample_to_json(c) for c in result.counterexamples],
        "details": _json_safe(result.details),
        "elapsed_s": result.elapsed_s,
        "peak_memory_bytes": result.peak_memory_bytes,
    }
