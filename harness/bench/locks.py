"""Lock service throughput and latency, Sinkron beside etcd, measured in the same run.

Uncontended: C clients, each acquiring and releasing its own lock name in a
loop (acquire + release = two lock operations). Contended handoff: 16 clients
on one exclusive lock; the acquire latency is the time a client waits for the
lock to be handed to it. Both systems run 3 nodes on 127.0.0.1 with fsync on;
clients talk to the leader, through the same lean HTTP/1.1 load generator
(``_http1.Http1Client``, one keep-alive connection per client), after a
warm-up that is not measured. Any failed operation raises: a row either has
every operation succeed or the benchmark fails.

Targets (issues 4 and 5): >= 2,000 lock operations/s for the cluster, with
p99 < 10 ms for uncontended lock operations (``op_p99_ms``, acquires and
releases together) at the concurrency that reaches it; the ``target`` column
says which row meets which. ``other_cores``: CPU used by processes outside
the benchmark while the row was measured (the machine is shared).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.bench._cluster import OtherLoad, leader_url, quantile_ms, run_fast, sinkron_cluster
from harness.bench._etcd_driver import EtcdLocker, etcd_available, etcd_cluster
from harness.bench._etcd_driver import leader_url as etcd_leader_url
from harness.bench._http1 import Http1Client

TITLE = "Locks: acquire+release on 3 local nodes (fsync on), Sinkron and etcd"
SECONDS = 5.0
WARMUP_SECONDS = 1.0
CASES = ((1, False), (8, False), (12, False), (16, False), (32, False), (16, True))
OPS_TARGET = 2000
P99_TARGET_MS = 10.0


class SinkronLocker:
    def __init__(self, url: str, owner: str) -> None:
        self.client, self.owner = Http1Client(url), owner

    async def acquire(self, name: str) -> int:
        body = {"owner": self.owner, "mode": "exclusive", "ttl_ms": 30_000, "wait_ms": 30_000}
        status, reply = await self.client.json("POST", f"/locks/{name}/acquire", body)
        if status != 200:
            raise RuntimeError(f"acquire {name}: {status} {reply}")
        return int(reply["token"])

    async def release(self, name: str, token: int) -> None:
        body = {"owner": self.owner, "token": token}
        status, reply = await self.client.json("POST", f"/locks/{name}/release", body)
        if status != 200:
            raise RuntimeError(f"release {name}: {status} {reply}")

    def close(self) -> None:
        self.client.close()


async def _measure(
    clients: int, cycle: Callable[[int], Awaitable[tuple[float, float]]]
) -> dict[str, Any]:
    """Run ``cycle(client)`` in a loop on every client; each cycle returns (acquire_s, release_s)."""
    acquires: list[float] = []
    releases: list[float] = []
    measuring = stop = False

    async def loop(client: int) -> None:
        while not stop:
            acquire_s, release_s = await cycle(client)
            if measuring:
                acquires.append(acquire_s)
                releases.append(release_s)

    tasks = [asyncio.create_task(loop(client)) for client in range(clients)]
    await asyncio.sleep(WARMUP_SECONDS)
    others = await asyncio.to_thread(OtherLoad)  # scans /proc: off the loop, not measured
    measuring = True
    began = time.perf_counter()
    await asyncio.sleep(SECONDS)
    measuring = False
    elapsed, other_cores = time.perf_counter() - began, others.cores()
    done_acquires, done_releases = list(acquires), list(releases)
    stop = True
    await asyncio.gather(*tasks)  # a failed operation raises here
    return {
        "lock_ops_per_s": round(2 * len(done_acquires) / elapsed),
        "pairs_per_s": round(len(done_acquires) / elapsed),
        "acquire_p50_ms": quantile_ms(done_acquires, 0.5),
        "acquire_p99_ms": quantile_ms(done_acquires, 0.99),
        "release_p99_ms": quantile_ms(done_releases, 0.99),
        "op_p99_ms": quantile_ms(done_acquires + done_releases, 0.99),
        "other_cores": other_cores,
    }


def _verdict(row: dict[str, Any]) -> str:
    """Which target a Sinkron row meets (etcd rows are the comparison, judged the same way)."""
    if row["contended"]:
        return ""
    fast = row["op_p99_ms"] < P99_TARGET_MS
    if row["clients"] == 1:
        return f"1-client p99 < {P99_TARGET_MS:.0f} ms: {'met' if fast else 'NOT met'}"
    busy = row["lock_ops_per_s"] >= OPS_TARGET
    both = "met" if busy and fast else "NOT met"
    return (
        f">= {OPS_TARGET} ops/s {'yes' if busy else 'no'}, p99 < {P99_TARGET_MS:.0f} ms "
        f"{'yes' if fast else 'no'}: {both}"
    )


async def _timed(awaitable: Awaitable[Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    result = await awaitable
    return result, time.perf_counter() - began


async def _sinkron_rows() -> list[dict[str, Any]]:
    rows = []
    async with sinkron_cluster() as urls:
        leader = await leader_url(urls)
        for clients, contended in CASES:
            lockers = [SinkronLocker(leader, f"bench-{i}") for i in range(clients)]

            async def cycle(
                client: int, lockers: list[SinkronLocker] = lockers, contended: bool = contended
            ) -> tuple[float, float]:
                name = "hot" if contended else f"cold-{client}"
                token, acquire_s = await _timed(lockers[client].acquire(name))
                _, release_s = await _timed(lockers[client].release(name, token))
                return acquire_s, release_s

            row = {
                "system": "sinkron",
                "clients": clients,
                "contended": contended,
                **await _measure(clients, cycle),
            }
            rows.append({**row, "target": _verdict(row)})
            for locker in lockers:
                locker.close()
    return rows


async def _etcd_rows(urls: list[str]) -> list[dict[str, Any]]:
    rows = []
    leader = etcd_leader_url(urls)
    for clients, contended in CASES:
        lockers = [EtcdLocker(leader) for _ in range(clients)]

        async def cycle(
            client: int, lockers: list[EtcdLocker] = lockers, contended: bool = contended
        ) -> tuple[float, float]:
            name = "hot" if contended else f"cold-{client}"
            key, acquire_s = await _timed(lockers[client].acquire(name))
            _, release_s = await _timed(lockers[client].release(key))
            return acquire_s, release_s

        row = {
            "system": "etcd 3.4",
            "clients": clients,
            "contended": contended,
            **await _measure(clients, cycle),
        }
        rows.append({**row, "target": _verdict(row)})
        for locker in lockers:
            locker.close()
    return rows


def run() -> list[dict[str, Any]]:
    rows = run_fast(_sinkron_rows)
    if etcd_available():
        with etcd_cluster() as urls:
            rows += run_fast(lambda: _etcd_rows(urls))
    else:
        rows.append(
            {
                "system": "etcd (not installed: apt-get install etcd-server)",
                "clients": 0,
                "contended": False,
            }
        )
    return rows
