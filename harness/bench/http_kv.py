"""End-to-end KV throughput and latency through HTTP on 3 local nodes (fsync on).

Clients send to the leader (found through /status), as a well-behaved client
does; writes go through the log, reads are linearizable (ReadIndex). Targets
(issues 4 and 5): >= 2,000 writes/s and p99 < 20 ms at concurrency 64.

The load generator is ``_http1.Http1Client`` (one keep-alive connection per
simulated client, one request in flight on it) on uvloop: the 3 nodes and the
generator share 2 cores, and a heavier client would measure itself. A round
trip counts when its complete response has been read; any status other than
200/404, and any dropped connection, counts as an error (warm-up included);
``error_statuses`` says which (``503x4``: four 503s; ``0``: no complete response).
``other_cores`` is the CPU that processes outside the benchmark used while a
row was measured (the machine is shared): rows with a high value ran slower.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from harness.bench._cluster import OtherLoad, leader_url, quantile_ms, run_fast, sinkron_cluster
from harness.bench._http1 import Http1Client, Http1Error

TITLE = "KV through HTTP: 3 local nodes, fsync on, clients on the leader"
SECONDS = 5.0
WARMUP_SECONDS = 1.0
CONCURRENCY = (1, 16, 64)
P99_TARGET_MS = 20.0
WRITES_TARGET = 2000


async def _run_case(url: str, f: str, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures: Counter[int] = Counter()  # status (0: no complete response) -> count
    measuring = False
    stop = False
    counter = 0

    async def worker(worker_id: int) -> None:
        nonlocal counter
        client = Http1Client(url)
        path = f"/kv/bench-{worker_id % 8}"
        try:
            while not stop:
                began = time.perf_counter()
                try:
                    if f == "write":
                        counter += 1
                        status, _ = await client.request("PUT", path, {"value": counter})
                    else:
                        status, _ = await client.request("GET", path)
                except Http1Error:
                    status = 0
                if status in (200, 404):
                    if measuring:
                        latencies.append(time.perf_counter() - began)
                else:
                    failures[status] += 1
                    await asyncio.sleep(0.01)  # a failing node answers fast: do not spin
        finally:
            client.close()

    workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(WARMUP_SECONDS)
    others = await asyncio.to_thread(OtherLoad)  # scans /proc: off the loop, not measured
    measuring = True
    began = time.perf_counter()
    await asyncio.sleep(SECONDS)
    measuring = False
    elapsed, other_cores = time.perf_counter() - began, others.cores()
    done = list(latencies)
    stop = True
    await asyncio.gather(*workers)
    return {
        "f": f,
        "concurrency": concurrency,
        "ops_per_s": round(len(done) / elapsed),
        "p50_ms": quantile_ms(done, 0.5),
        "p99_ms": quantile_ms(done, 0.99),
        "errors": sum(failures.values()),
        "error_statuses": " ".join(f"{code}x{n}" for code, n in sorted(failures.items())),
        "other_cores": other_cores,
    }


def _verdict(row: dict[str, Any]) -> str:
    """Which target the row is measured against, and whether it meets it."""
    if row["f"] != "write" or row["concurrency"] != 64:
        return ""
    met = row["ops_per_s"] >= WRITES_TARGET and row["p99_ms"] < P99_TARGET_MS
    target = f">= {WRITES_TARGET} writes/s and p99 < {P99_TARGET_MS:.0f} ms"
    return f"target {target}: {'met' if met else 'NOT met'}"


async def _rows() -> list[dict[str, Any]]:
    rows = []
    async with sinkron_cluster() as urls:
        leader = await leader_url(urls)
        for f in ("write", "read"):
            for concurrency in CONCURRENCY:
                row = await _run_case(leader, f, concurrency)
                rows.append({**row, "target": _verdict(row)})
    return rows


def run() -> list[dict[str, Any]]:
    return run_fast(_rows)
