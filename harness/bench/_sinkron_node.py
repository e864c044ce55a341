"""One Sinkron node for the side-by-side replication benchmark.

Run as ``python -m harness.bench._sinkron_node --plan FILE --out FILE`` with
the node's SINKRON_* settings in the environment. Like the PySyncObj side,
every node process waits for a leader and the leader's process runs the plan:
KV writes proposed inside the leader process (``Node.propose_local``), C
outstanding at a time, each reply awaited until the entry is committed and
applied — with fsync on, durable on a quorum before it counts.

Beyond the leader's in-flight bound (SINKRON_MAX_INFLIGHT_PROPOSALS) a
proposal is refused with ``Overloaded``; the driver counts each refusal
(``rejected_retried``) and retries it when its turn comes (``run_case``), and
the latency of a write counts from when its client first wanted to send it.
``loop_stall_max_ms`` is how late a 10 ms timer fired at worst on the leader,
``leader_cpu_us_per_op`` the leader process's CPU time (all threads) per write.
SINKRON_BENCH_PROFILE=FILE writes each node's cProfile stats to FILE.<node id>
(CPU time instead of wall time with SINKRON_BENCH_PROFILE_CPU=1).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from harness.bench._cluster import quantile_ms
from impl.runtime.config import load_settings
from impl.runtime.eventloop import loop_factory
from impl.runtime.gc_tuning import tune_garbage_collector
from impl.runtime.node import Node
from impl.runtime.requests import Overloaded

START_WAVE = 256  # clients started per loop iteration
LAG_LOG_S = 0.1  # log event-loop stalls longer than this


async def run_case(
    node: Node, concurrency: int, payload_bytes: int, seconds: float
) -> dict[str, Any]:
    """C clients, each proposing one write at a time, retrying refused ones (see ``worker``)."""
    payload = "x" * payload_bytes
    latencies: list[float] = []
    failures = rejected = 0
    measuring = False
    parked: collections.deque[asyncio.Future[None]] = collections.deque()

    def wake_one() -> None:
        while parked:
            waiter = parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def wait_turn() -> None:
        waiter = asyncio.get_running_loop().create_future()
        parked.append(waiter)
        await waiter

    async def worker(worker_id: int) -> None:
        # A refused proposal (Overloaded: nothing was appended) parks its client in a
        # FIFO; every completed proposal lets the longest-parked client retry, and a
        # client that just finished queues behind the parked ones before its next
        # write, so turns go round fairly. Latency counts from when the client wanted
        # to write, parked time included, as the time in PySyncObj's unbounded queue
        # is in its latency.
        nonlocal failures, rejected
        op = {"f": "write", "key": f"k{worker_id % 64}", "value": payload}
        yield_turn = False
        while not stop.is_set():
            began = time.perf_counter()
            if yield_turn:
                wake_one()
                await wait_turn()
            while not stop.is_set():
                try:
                    await node.propose_local("kv", op)
                except Overloaded:
                    rejected += 1
                    await wait_turn()
                    continue
                except Exception:
                    # Not the leader any more (or a timeout): count it and yield; a failing
                    # proposal returns without awaiting, and a tight retry loop would starve
                    # the event loop the node itself runs on.
                    failures += 1
                    await asyncio.sleep(0.01)
                    break
                if measuring:
                    latencies.append(time.perf_counter() - began)
                yield_turn = bool(parked)
                break

    lags: list[float] = []

    async def watch_loop() -> None:
        # How late a 10 ms timer fires: the leader's ticks and heartbeats wait that long.
        while not stop.is_set():
            due = time.perf_counter() + 0.01
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - due)
            if lags[-1] > LAG_LOG_S:
                logging.getLogger("bench").warning("event loop stalled %.0f ms", lags[-1] * 1e3)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop())
    workers = []
    for first in range(0, concurrency, START_WAVE):
        # Clients arrive in waves of START_WAVE per loop iteration, not 8192 at once: one
        # iteration running thousands of first tries would stall the node's own timers.
        last = min(first + START_WAVE, concurrency)
        workers += [asyncio.create_task(worker(i)) for i in range(first, last)]
        await asyncio.sleep(0)
    await asyncio.sleep(min(1.0, seconds / 4))  # warm-up
    measuring = True
    began, cpu_began = time.perf_counter(), time.process_time()
    await asyncio.sleep(seconds)
    measuring = False
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    done = list(latencies)
    stop.set()
    for waiter in parked:
        if not waiter.done():
            waiter.set_result(None)
    await asyncio.wait([*workers, watcher], timeout=10)
    return {
        "ops_per_s": len(done) / elapsed,
        "p50_ms": quantile_ms(done, 0.5),
        "p99_ms": quantile_ms(done, 0.99),
        "failures": failures,
        "rejected_retried": rejected,
        "loop_stall_max_ms": max(lags, default=0.0) * 1000,
        "leader_cpu_us_per_op": cpu / len(done) * 1e6 if done else float("nan"),
    }


async def main_async(plan_file: Path, out_file: Path) -> None:
    node = Node(load_settings([]))
    await node.start()
    tune_garbage_collector()  # as impl.runtime's main does once the node is up
    try:
        deadline = time.monotonic() + 30
        while node.raft.leader_id is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if node.is_leader():
            plan = json.loads(plan_file.read_text())
            results = []
            for case in plan:
                if not node.is_leader():  # overload cost us leadership: say so, measure nothing
                    results.append({**case, "note": "not measured: leadership lost earlier"})
                    continue
                measured = await run_case(
                    node, case["concurrency"], case["payload_bytes"], case["seconds"]
                )
                if not node.is_leader():
                    measured["note"] = "leadership lost during the case (CPU-saturated leader)"
                results.append({**case, **measured})
            out_file.write_text(json.dumps(results))
        else:
            while not out_file.exists() and time.monotonic() < deadline + 900:
                await asyncio.sleep(0.2)
    finally:
        # Bounded: the measurement is done; a slow shutdown must not hold the benchmark.
        stopping = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(node.stop(), 10)
        if time.perf_counter() - stopping > 1.0:
            logging.getLogger("bench").warning(
                "slow stop: %.0f ms", (time.perf_counter() - stopping) * 1e3
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("sinkron.node").setLevel(logging.INFO)  # role changes, for the record
    profile = os.environ.get("SINKRON_BENCH_PROFILE")  # a file: cProfile stats of this node
    runner = asyncio.Runner(loop_factory=loop_factory())
    if not profile:
        with runner:
            runner.run(main_async(args.plan, args.out))
        return
    import cProfile

    # SINKRON_BENCH_PROFILE_CPU=1: count CPU time, not wall time (a process preempted by
    # its peers on a 2-core machine would otherwise charge the wait to whatever it ran).
    timer = time.process_time if os.environ.get("SINKRON_BENCH_PROFILE_CPU") == "1" else None
    profiler = cProfile.Profile(timer) if timer else cProfile.Profile()
    profiler.enable()
    try:
        with runner:
            runner.run(main_async(args.plan, args.out))
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{os.environ.get('SINKRON_NODE_ID', 'node')}")


if __name__ == "__main__":
    main()
