"""One ``harness run``, start to finish.

Theory of operation (each step bounded in time, so a run never hangs):

 1. start the cluster through the chosen backend and wait for a leader;
 2. run ``--concurrency`` workers for ``--time-limit`` seconds while the
    nemesis scheduler injects faults; every op goes to history.jsonl as it
    happens;
 3. heal everything (resume, restart, heal the network, reset clocks), wait
    until the cluster has a leader and accepts a write again;
 4. read every key once more (recorded), so a lost acknowledged write shows;
 5. collect node logs, stop the cluster, save run.json, check the history
    and write the reports.

The exit code is the checker's verdict (0 valid, 1 invalid, 2 unknown) or 2
for a harness error, with the reason on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from harness.backends.base import Backend, ClusterSpec
from harness.check.verdict import Verdict
from harness.history.ops import OpType
from harness.nemesis.context import NemesisContext
from harness.nemesis.leader import find_leader
from harness.nemesis.registry import build_faults, parse_nemesis
from harness.nemesis.scheduler import NemesisScheduler
from harness.run.analysis import check_run, write_reports
from harness.run.options import RunOptions, write_metadata
from harness.run.progress import Progress
from harness.run.recorder import Recorder
from harness.run.workers import ProcessIds, run_one, run_workers
from harness.workloads import load_workload
from harness.workloads.base import Workload

FINAL_READS_BUDGET_S = 20.0  # retries of the final reads stop after this; a run never hangs here
RECOVERY_KEY = "__recovery__"  # written (unrecorded) to prove the healed cluster takes writes


class BackendUnavailable(RuntimeError):
    """The chosen backend's module is not written yet or cannot be used here."""


def make_backend(options: RunOptions, cluster_dir: Path) -> Backend:
    spec = ClusterSpec(nodes=options.nodes, run_dir=cluster_dir)
    try:
        if options.backend == "local":
            from harness.backends.local import LocalBackend

            return LocalBackend(spec, net="netns" if options.net == "netns" else "relay")
        if options.backend == "docker":
            from harness.backends.docker import DockerBackend

            return DockerBackend(spec)
        if options.backend == "ssh":
            from harness.backends.ssh import SshBackend, load_hosts

            if options.hosts is None:
                raise BackendUnavailable(
                    "the ssh backend needs --hosts FILE (see docs/containers.md)"
                )
            return SshBackend(spec, load_hosts(options.hosts))
    except ImportError as error:
        raise BackendUnavailable(
            f"backend {options.backend!r} not available yet: {error}"
        ) from error
    raise BackendUnavailable(f"unknown backend {options.backend!r}; use local, docker or ssh")


def make_run_dir(options: RunOptions) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    nemesis = options.nemesis.replace(",", "+")
    base = options.out / f"{stamp}-{options.workload}-{nemesis}"
    run_dir, suffix = base, 1
    while run_dir.exists():
        suffix += 1
        run_dir = base.with_name(f"{base.name}-{suffix}")
    run_dir.mkdir(parents=True)
    return run_dir


def _client(urls: list[str], options: RunOptions, **overrides: Any) -> Any:
    from harness.client.async_client import AsyncClient

    settings: dict[str, Any] = {
        "timeout_s": options.client_timeout_s,
        "retries": 1,
        "prefer_leader": False,
    }
    settings.update(overrides)
    return AsyncClient(urls, **settings)


async def wait_for_recovery(backend: Backend, options: RunOptions, *, timeout_s: float) -> str:
    """Until a leader is known and a write succeeds; returns how it went (for run.json)."""
    urls = [backend.client_url(node) for node in backend.node_ids]
    client = _client(urls, options, prefer_leader=True, retries=3)
    deadline = time.monotonic() + timeout_s
    attempt = 0
    try:
        while time.monotonic() < deadline:
            attempt += 1
            leader = await find_leader(backend.node_ids, backend.client_url)
            if leader is not None:
                with contextlib.suppress(Exception):
                    await client.put(RECOVERY_KEY, attempt)
                    return f"recovered: leader {leader}, write accepted after {attempt} attempt(s)"
            await asyncio.sleep(0.25)
    finally:
        await client.close()
    return f"not recovered within {timeout_s:g} s"


async def final_reads(
    workload: Workload,
    backend: Backend,
    options: RunOptions,
    recorder: Recorder,
    process_ids: ProcessIds,
) -> list[dict[str, Any]]:
    """Run ``workload.final_ops()`` until each completes ok (bounded); every attempt is recorded."""
    urls = [backend.client_url(node) for node in backend.node_ids]
    client = _client(
        urls, options, prefer_leader=True, retries=3, timeout_s=max(options.client_timeout_s, 3.0)
    )
    summary: list[dict[str, Any]] = []
    deadline = time.monotonic() + FINAL_READS_BUDGET_S
    try:
        for operation in workload.final_ops():
            outcome = OpType.FAIL
            for attempt in range(10):
                if attempt and time.monotonic() >= deadline:
                    break  # every key still gets one attempt; retries share one bounded budget
                process = process_ids.next()
                outcome = await run_one(workload, client, recorder, process, operation)
                if outcome is OpType.OK:
                    break
                await asyncio.sleep(0.5)
            value = recorder.ops[-1].value
            summary.append(
                {"f": operation.f, "key": operation.key, "type": outcome.value, "value": value}
            )
    finally:
        await client.close()
    return summary


async def _drive(
    options: RunOptions,
    backend: Backend,
    workload: Workload,
    recorder: Recorder,
    rng: random.Random,
    metadata: dict[str, Any],
    stderr: TextIO,
) -> None:
    nodes = backend.node_ids
    clients = [
        _client([backend.client_url(nodes[worker % len(nodes)])], options)
        for worker in range(options.concurrency)
    ]
    context = NemesisContext(
        backend=backend,
        rng=random.Random(rng.getrandbits(64)),
        find_leader=lambda: find_leader(backend.node_ids, backend.client_url),
    )
    scheduler = NemesisScheduler(
        build_faults(parse_nemesis(options.nemesis), asymmetric=options.asymmetric),
        context,
        recorder,
        quiet_s=options.nemesis_quiet_s,
        fault_s=options.nemesis_fault_s,
    )
    process_ids = ProcessIds()
    deadline_ns = recorder.now_ns() + int(options.time_limit_s * 1e9)
    progress = Progress(
        total_s=options.time_limit_s,
        ops_done=lambda: recorder.completed,
        elapsed_s=lambda: recorder.now_ns() / 1e9,
        fault=lambda: scheduler.active,
        stream=stderr,
    )
    progress_task = asyncio.create_task(progress.run())
    try:
        await asyncio.gather(
            run_workers(
                workload=workload,
                clients=clients,
                recorder=recorder,
                process_ids=process_ids,
                rate_per_s=options.rate,
                rng=random.Random(rng.getrandbits(64)),
                should_stop=lambda: recorder.now_ns() >= deadline_ns,
            ),
            scheduler.run(deadline_ns),
        )
    finally:
        await scheduler.heal_all()
        progress_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress_task
        for client in clients:
            await client.close()
        metadata["windows"] = [list(window) for window in scheduler.windows]
        metadata["nemesis_events"] = scheduler.events
    metadata["workload_end_ns"] = recorder.now_ns()
    metadata["recovery"] = await wait_for_recovery(
        backend, options, timeout_s=options.recovery_timeout_s
    )
    print(f"{metadata['recovery']}", file=stderr)
    metadata["final_reads"] = await final_reads(workload, backend, options, recorder, process_ids)


async def execute(
    options: RunOptions,
    *,
    stderr: TextIO = sys.stderr,
    backend_factory: Callable[[RunOptions, Path], Backend] = make_backend,
) -> int:
    """Run, check, report; returns the exit code. ``backend_factory`` is for tests."""
    rng = random.Random(options.seed)
    workload_class = load_workload(options.workload)
    try:
        workload = workload_class(**options.workload_options)
    except TypeError as bad_option:
        raise LookupError(
            f"workload {options.workload!r} rejects --workload-opt: {bad_option}"
        ) from bad_option
    parse_nemesis(options.nemesis)  # fail on a bad name before starting anything
    run_dir = make_run_dir(options)
    try:
        # The nodes' data directories (and their own log files) stay in the run's folder,
        # under cluster/, for a post-mortem of the very databases the run left behind.
        backend = backend_factory(options, run_dir / "cluster")
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    print(f"SEED={options.seed} run folder {run_dir}\n{options.rerun_command()}", file=stderr)
    metadata: dict[str, Any] = {
        "workload": options.workload,
        "nemesis": options.nemesis,
        "seed": options.seed,
        "model": workload.model,
        "workload_options": options.workload_options,
        "options": options.to_json(),
        "windows": [],
        "nemesis_events": [],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    recorder: Recorder | None = None
    error: BaseException | None = None
    started = time.monotonic()
    try:
        await asyncio.wait_for(backend.start(), 60)
        recovery = await wait_for_recovery(backend, options, timeout_s=options.recovery_timeout_s)
        print(f"cluster up ({len(backend.node_ids)} nodes): {recovery}", file=stderr)
        recorder = Recorder(run_dir / "history.jsonl")
        await _drive(options, backend, workload, recorder, rng, metadata, stderr)
    except Exception as failure:  # reported below; the reports still get written from what exists
        error = failure
    finally:
        # Saved first, before any await, so an interrupted run can still be
        # rebuilt with `harness report` from what it recorded.
        metadata["duration_s"] = round(time.monotonic() - started, 3)
        write_metadata(run_dir, metadata)
        with contextlib.suppress(Exception):
            (run_dir / "nodes").mkdir(exist_ok=True)
            await asyncio.wait_for(backend.collect_logs(run_dir / "nodes"), 30)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(backend.close(), 60)
        if recorder is not None:
            recorder.close()
    metadata["duration_s"] = round(time.monotonic() - started, 3)
    write_metadata(run_dir, metadata)
    if recorder is None:
        print(f"harness error: cluster did not start: {type(error).__name__}: {error}", file=stderr)
        return 2
    print(f"checking {len(recorder.ops)} ops (model {workload.model}) ...", file=stderr)
    result = check_run(recorder.ops, metadata, timeout_s=options.check_timeout_s)
    if error is not None:
        result.reasons.append(
            f"the run was cut short by a harness error: {type(error).__name__}: {error}"
        )
    write_reports(run_dir, recorder.ops, metadata, result)
    print(f"verdict: {result.verdict.value}; reports in {run_dir}", file=stderr)
    for reason in result.reasons:
        print(f"  {reason}", file=stderr)
    if error is not None and result.verdict is not Verdict.ILLEGAL:
        # A violation found before the error is still a violation (exit 1); anything else is 2.
        print(f"harness error: {type(error).__name__}: {error}", file=stderr)
        return 2
    return result.verdict.exit_code
