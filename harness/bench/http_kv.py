"""End-to-end KV throughput and latency through HTTP on 3 local nodes (fsync on).

Clients send to the leader (found through /status), as a well-behaved client
does; writes go through the log, reads are linearizable (ReadIndex). Targets
(issue "main-job"): >= 2,000 writes/s and p99 < 20 ms at concurrency 64.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp

from harness.bench._cluster import quantile_ms, sinkron_cluster

TITLE = "KV through HTTP: 3 local nodes, fsync on, clients on the leader"
SECONDS = 5.0
CONCURRENCY = (1, 16, 64)


async def _leader_url(session: aiohttp.ClientSession, urls: list[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for url in urls:
            try:
                async with session.get(f"{url}/status") as response:
                    status = await response.json()
                if status.get("role") == "leader":
                    return url
            except aiohttp.ClientError:
                pass
        await asyncio.sleep(0.2)
    raise RuntimeError("no leader within 30 s")


async def _run_case(
    session: aiohttp.ClientSession, url: str, f: str, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    deadline = time.perf_counter() + SECONDS

    async def worker(worker_id: int) -> None:
        nonlocal errors
        key = f"bench-{worker_id % 8}"
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if f == "write":
                request = session.put(f"{url}/kv/{key}", json={"value": next(counter)})
            else:
                request = session.get(f"{url}/kv/{key}")
            async with request as response:
                await response.read()
                ok = response.status in (200, 404)
            if ok:
                latencies.append(time.perf_counter() - began)
            else:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "f": f,
        "concurrency": concurrency,
        "ops_per_s": round(len(latencies) / elapsed),
        "p50_ms": quantile_ms(latencies, 0.5),
        "p99_ms": quantile_ms(latencies, 0.99),
        "errors": errors,
    }


async def _rows() -> list[dict[str, Any]]:
    rows = []
    connector = aiohttp.TCPConnector(limit=0)
    async with sinkron_cluster() as urls, aiohttp.ClientSession(connector=connector) as session:
        leader = await _leader_url(session, urls)
        for f in ("write", "read"):
            for concurrency in CONCURRENCY:
                rows.append(await _run_case(session, leader, f, concurrency))
    return rows


def run() -> list[dict[str, Any]]:
    return asyncio.run(_rows())
