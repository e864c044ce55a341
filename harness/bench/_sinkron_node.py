"""One Sinkron node for the side-by-side replication benchmark.

Run as ``python -m harness.bench._sinkron_node --plan FILE --out FILE`` with
the node's SINKRON_* settings in the environment. Like the PySyncObj side,
every node process waits for a leader and the leader's process runs the plan:
KV writes proposed inside the leader process (``Node.propose_local``), C
outstanding at a time, each reply awaited until the entry is committed and
applied — with fsync on, durable on a quorum before it counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from harness.bench._cluster import quantile_ms
from impl.runtime.config import load_settings
from impl.runtime.node import Node


async def run_case(
    node: Node, concurrency: int, payload_bytes: int, seconds: float
) -> dict[str, Any]:
    payload = "x" * payload_bytes
    latencies: list[float] = []
    failures = 0
    measuring = False

    async def worker(worker_id: int) -> None:
        nonlocal failures
        op = {"f": "write", "key": f"k{worker_id % 64}", "value": payload}
        while not stop.is_set():
            began = time.perf_counter()
            try:
                await node.propose_local("kv", op)
            except Exception:
                # Not the leader any more (or a timeout): count it and yield; a failing
                # proposal returns without awaiting, and a tight retry loop would starve
                # the event loop the node itself runs on.
                failures += 1
                await asyncio.sleep(0.01)
                continue
            if measuring:
                latencies.append(time.perf_counter() - began)

    stop = asyncio.Event()
    workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(min(1.0, seconds / 4))  # warm-up
    measuring = True
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    elapsed = time.perf_counter() - began
    done = list(latencies)
    stop.set()
    await asyncio.wait(workers, timeout=10)
    return {
        "ops_per_s": len(done) / elapsed,
        "p50_ms": quantile_ms(done, 0.5),
        "p99_ms": quantile_ms(done, 0.99),
        "failures": failures,
    }


async def main_async(plan_file: Path, out_file: Path) -> None:
    node = Node(load_settings([]))
    await node.start()
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(node.stop(), 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(args.plan, args.out))


if __name__ == "__main__":
    main()
