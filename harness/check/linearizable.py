"""Is a history linearizable with respect to a sequential model?

Theory of operation: pair invokes with completions (harness/check/wgl_prepare.py),
split the calls by the object they touch (P-compositionality: a history is
linearizable iff every object's sub-history is, Herlihy & Wing 1990 Thm. 1),
shrink each part with rules that keep its verdict, and run the WGL search
(harness/check/wgl.py) on each part: in worker processes when there are
several large parts, in this process otherwise. Verdicts combine as: any
ILLEGAL part makes the history ILLEGAL (a violation found under budget is
still a violation); else any part out of budget makes it UNKNOWN; else OK.

Usage::

    result = check_linearizable(ops, "kv", timeout_s=30)
    result.verdict  # Verdict.OK | Verdict.ILLEGAL | Verdict.UNKNOWN
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from harness.check.verdict import CheckResult, Verdict
from harness.check.wgl import Outcome, SearchResult, search
from harness.check.wgl_explain import build_counterexample, unwritten_value_proof
from harness.check.wgl_prepare import Call, pair_history, shrink, split_partitions
from harness.check.wgl_refute import refute
from harness.history.ops import Op
from spec.models import MODELS, NO_VALUE, Model

PARALLEL_MIN_OPS = 20_000
REFUTED_SEARCH_S = 1.0  # extra search, for the counterexample only, once a refutation proved ILLEGAL  # below this, starting processes costs more than it saves
DEFAULT_MEMORY_LIMIT_BYTES = 1 << 30


def resolve_model(model: str | Model) -> Model:
    """Accept a model or its registry name.

    Raises:
        ValueError: the name is not in spec.models.MODELS.
    """
    if not isinstance(model, str):
        return model
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    return MODELS[model]


def check_linearizable(
    ops: Sequence[Op],
    model: str | Model,
    *,
    timeout_s: float | None = None,
    memory_limit_bytes: int | None = DEFAULT_MEMORY_LIMIT_BYTES,
    workers: int | None = None,
) -> CheckResult:
    """Check ``ops`` (a Jepsen-style history) against ``model``.

    Returns:
        A CheckResult whose verdict is OK (a linearization exists), ILLEGAL
        (none exists; ``counterexamples`` says why, one per failing key) or
        UNKNOWN (the time or memory budget ran out first; ``reasons`` says which).

    Raises:
        ValueError: unknown model name, or an unpaired/odd op (see pair_history).
    """
    started = time.monotonic()
    rss_before = _max_rss_bytes()
    was_enabled = gc.isenabled()
    gc.disable()  # pairing builds 100k objects; generation scans would dominate (see wgl.search)
    try:
        return _check(ops, model, timeout_s, memory_limit_bytes, workers, started, rss_before)
    finally:
        if was_enabled:
            gc.enable()


def _check(
    ops: Sequence[Op],
    model: str | Model,
    timeout_s: float | None,
    memory_limit_bytes: int | None,
    workers: int | None,
    started: float,
    rss_before: int,
) -> CheckResult:
    resolved = resolve_model(model)
    deadline = None if timeout_s is None else started + timeout_s
    paired = pair_history(ops)
    parts = {
        key: shrink(resolved, calls)
        for key, calls in split_partitions(resolved, paired.calls).items()
    }
    total_calls = sum(len(calls) for calls in parts.values())
    parallel = (workers is None or workers > 1) and len(parts) > 1
    parallel = parallel and total_calls >= PARALLEL_MIN_OPS
    if parallel:
        outcomes = _run_parallel(resolved, parts, deadline, memory_limit_bytes, workers)
    else:
        outcomes = {
            key: _check_part(resolved, calls, deadline, memory_limit_bytes)
            for key, calls in parts.items()
        }
    result = _assemble(resolved, parts, outcomes, paired.info_completions, parallel, timeout_s)
    result.counts = {**paired.counts, "partitions": len(parts), "calls_searched": total_calls}
    result.elapsed_s = time.monotonic() - started
    estimate = max((found.memory_bytes_estimate for found, _ in outcomes.values()), default=0)
    result.peak_memory_bytes = max(_max_rss_bytes() - rss_before, estimate)
    return result


def _check_part(
    model: Model, calls: list[Call], deadline: float | None, memory_limit_bytes: int | None
) -> tuple[SearchResult, float]:
    started = time.monotonic()
    missing = _observer_of_unwritten_value(model, calls)
    if missing is not None:
        found = _search_for_display(model, calls, started, deadline, memory_limit_bytes, missing)
        found.blocked = missing
        found.proof = unwritten_value_proof(model, missing)
        return found, time.monotonic() - started
    refutation = refute(model, calls)
    if refutation is not None:
        found = _search_for_display(
            model, calls, started, deadline, memory_limit_bytes, refutation.reader
        )
        found.blocked = refutation.reader  # the op the proof names, not the search's dead end
        found.proof = refutation.explanation
        found.witnesses = [c for c in (refutation.writer, refutation.overwriter) if c is not None]
        return found, time.monotonic() - started
    found = search(model, calls, deadline=deadline, memory_limit_bytes=memory_limit_bytes)
    return found, time.monotonic() - started


def _search_for_display(
    model: Model,
    calls: list[Call],
    started: float,
    deadline: float | None,
    memory_limit_bytes: int | None,
    proven: Call,
) -> SearchResult:
    """ILLEGAL is already proven (``proven`` cannot take effect); a short search only finds
    a partial linearization to show beside the proof."""
    budget = started + REFUTED_SEARCH_S
    found = search(
        model,
        calls,
        deadline=budget if deadline is None else min(deadline, budget),
        memory_limit_bytes=memory_limit_bytes,
    )
    assert found.outcome is not Outcome.OK, f"search accepts what was proven illegal: {proven}"
    if found.outcome is not Outcome.ILLEGAL:
        found = SearchResult(outcome=Outcome.ILLEGAL, blocked=proven)
    return found


def _observer_of_unwritten_value(model: Model, calls: Sequence[Call]) -> Call | None:
    """A completed op that observed a value nothing could have produced is illegal outright."""
    if not model.value_based:
        return None
    produced = {c.produced for c in calls if c.produced is not NO_VALUE}
    produced.add(model.init())
    for call in calls:
        if call.is_ok and call.observed is not NO_VALUE and call.observed not in produced:
            return call
    return None


_FORKED: dict[str, Any] = {}  # what forked workers inherit instead of unpickling 100k ops


def _run_parallel(
    model: Model,
    parts: dict[Hashable, list[Call]],
    deadline: float | None,
    memory_limit_bytes: int | None,
    workers: int | None,
) -> dict[Hashable, tuple[SearchResult, float]]:
    """Check parts in forked workers; calls travel by fork, results back as indices."""
    count = min(workers or os.cpu_count() or 1, len(parts))
    share = None if memory_limit_bytes is None else memory_limit_bytes // count
    keys = sorted(parts, key=lambda key: -len(parts[key]))  # largest first: it finishes last
    _FORKED.update(model=model, parts=[parts[key] for key in keys])
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            futures = [
                pool.submit(_check_forked_part, number, deadline, share)
                for number in range(len(keys))
            ]
            packed = [future.result() for future in futures]
    finally:
        _FORKED.clear()
    return {
        key: (_unpack(parts[key], *found), elapsed)
        for key, (found, elapsed) in zip(keys, packed, strict=True)
    }


def _check_forked_part(
    number: int, deadline: float | None, memory_limit_bytes: int | None
) -> tuple[tuple[Any, ...], float]:
    calls = _FORKED["parts"][number]
    found, elapsed = _check_part(_FORKED["model"], calls, deadline, memory_limit_bytes)
    position = {id(call): n for n, call in enumerate(calls)}
    longest = [] if found.outcome is Outcome.OK else [position[id(c)] for c in found.longest]
    stuck = [position[id(c)] for c in found.stuck]
    blocked = None if found.blocked is None else position[id(found.blocked)]
    numbers = (found.cache_entries, found.memory_bytes_estimate, found.iterations)
    witnesses = [position[id(c)] for c in found.witnesses]
    return (found.outcome, longest, stuck, blocked, numbers, found.proof, witnesses), elapsed


def _unpack(
    calls: list[Call],
    outcome: Outcome,
    longest: list[int],
    stuck: list[int],
    blocked: int | None,
    numbers: tuple[int, int, int],
    proof: str | None,
    witnesses: list[int],
) -> SearchResult:
    return SearchResult(
        outcome=outcome,
        longest=[calls[n] for n in longest],
        stuck=[calls[n] for n in stuck],
        blocked=None if blocked is None else calls[blocked],
        cache_entries=numbers[0],
        memory_bytes_estimate=numbers[1],
        iterations=numbers[2],
        proof=proof,
        witnesses=[calls[n] for n in witnesses],
    )


def _assemble(
    model: Model,
    parts: dict[Hashable, list[Call]],
    outcomes: dict[Hashable, tuple[SearchResult, float]],
    info_completions: dict[int, Op],
    parallel: bool,
    timeout_s: float | None,
) -> CheckResult:
    result = CheckResult(checker="linearizable", model=model.name, verdict=Verdict.OK)
    per_partition: list[dict[str, Any]] = []
    unknown_reasons: list[str] = []
    for key, (found, elapsed) in outcomes.items():
        verdict = _verdict_of(found.outcome)
        per_partition.append(
            {
                "key": key,
                "verdict": verdict.value,
                "calls": len(parts[key]),
                "elapsed_s": round(elapsed, 6),
                "cache_entries": found.cache_entries,
                "memory_bytes_estimate": found.memory_bytes_estimate,
            }
        )
        if found.outcome is Outcome.ILLEGAL:
            result.counterexamples.append(
                build_counterexample(model, key, parts[key], found, info_completions)
            )
        elif found.outcome is Outcome.TIMEOUT:
            unknown_reasons.append(f"key {key!r}: timeout after {timeout_s} s")
        elif found.outcome is Outcome.MEMORY:
            unknown_reasons.append(
                f"key {key!r}: memory cap reached ({found.memory_bytes_estimate} bytes estimated)"
            )
    if result.counterexamples:
        result.verdict = Verdict.ILLEGAL
        result.reasons = [ce.explanation for ce in result.counterexamples] + unknown_reasons
    elif unknown_reasons:
        result.verdict = Verdict.UNKNOWN
        result.reasons = unknown_reasons
    result.details = {"partitions": per_partition, "parallel": parallel}
    return result


def _verdict_of(outcome: Outcome) -> Verdict:
    if outcome is Outcome.OK:
        return Verdict.OK
    if outcome is Outcome.ILLEGAL:
        return Verdict.ILLEGAL
    return Verdict.UNKNOWN


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
