"""Lock service throughput and latency, Sinkron beside etcd, measured in the same run.

Uncontended: C clients, each acquiring and releasing its own lock name in a
loop (acquire + release = two lock operations). Contended handoff: 16 clients
on one exclusive lock; the acquire latency is the time a client waits for the
lock to be handed to it. Both systems run 3 nodes on 127.0.0.1 with fsync on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from harness.bench._cluster import quantile_ms, sinkron_cluster
from harness.bench._etcd_driver import EtcdLocker, etcd_available, etcd_cluster

TITLE = "Locks: acquire+release on 3 local nodes (fsync on), Sinkron and etcd"
SECONDS = 5.0


class SinkronLocker:
    def __init__(self, session: aiohttp.ClientSession, url: str, owner: str) -> None:
        self.session, self.url, self.owner = session, url, owner

    async def acquire(self, name: str) -> int:
        body = {"owner": self.owner, "mode": "exclusive", "ttl_ms": 30_000, "wait_ms": 30_000}
        async with self.session.post(f"{self.url}/locks/{name}/acquire", json=body) as response:
            reply = await response.json()
            if response.status != 200:
                raise RuntimeError(f"acquire {name}: {response.status} {reply}")
            return int(reply["token"])

    async def release(self, name: str, token: int) -> None:
        body = {"owner": self.owner, "token": token}
        async with self.session.post(f"{self.url}/locks/{name}/release", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"release {name}: {response.status} {await response.text()}")


async def _measure(
    clients: int, cycle: Callable[[int], Awaitable[tuple[float, float]]]
) -> dict[str, Any]:
    """Run ``cycle(client)`` in a loop on every client; each cycle returns (acquire_s, release_s)."""
    acquires: list[float] = []
    releases: list[float] = []
    deadline = time.perf_counter() + SECONDS

    async def loop(client: int) -> None:
        while time.perf_counter() < deadline:
            acquire_s, release_s = await cycle(client)
            acquires.append(acquire_s)
            releases.append(release_s)

    began = time.perf_counter()
    await asyncio.gather(*(loop(client) for client in range(clients)))
    elapsed = time.perf_counter() - began
    return {
        "lock_ops_per_s": round(2 * len(acquires) / elapsed),
        "pairs_per_s": round(len(acquires) / elapsed),
        "acquire_p50_ms": quantile_ms(acquires, 0.5),
        "acquire_p99_ms": quantile_ms(acquires, 0.99),
        "release_p99_ms": quantile_ms(releases, 0.99),
    }


async def _timed(awaitable: Awaitable[Any]) -> tuple[Any, float]:
    began = time.perf_counter()
    result = await awaitable
    return result, time.perf_counter() - began


async def _sinkron_rows() -> list[dict[str, Any]]:
    rows = []
    async with sinkron_cluster() as urls, aiohttp.ClientSession() as session:
        for clients, contended in ((1, False), (16, False), (16, True)):
            lockers = [SinkronLocker(session, urls[0], f"bench-{i}") for i in range(clients)]

            async def cycle(
                client: int, lockers: list[SinkronLocker] = lockers, contended: bool = contended
            ) -> tuple[float, float]:
                name = "hot" if contended else f"cold-{client}"
                token, acquire_s = await _timed(lockers[client].acquire(name))
                _, release_s = await _timed(lockers[client].release(name, token))
                return acquire_s, release_s

            rows.append(
                {
                    "system": "sinkron",
                    "clients": clients,
                    "contended": contended,
                    **await _measure(clients, cycle),
                }
            )
    return rows


async def _etcd_rows() -> list[dict[str, Any]]:
    rows = []
    with etcd_cluster() as urls:
        async with aiohttp.ClientSession() as session:
            for clients, contended in ((1, False), (16, False), (16, True)):
                lockers = [EtcdLocker(session, urls[0]) for _ in range(clients)]

                async def cycle(
                    client: int, lockers: list[EtcdLocker] = lockers, contended: bool = contended
                ) -> tuple[float, float]:
                    name = "hot" if contended else f"cold-{client}"
                    key, acquire_s = await _timed(lockers[client].acquire(name))
                    _, release_s = await _timed(lockers[client].release(key))
                    return acquire_s, release_s

                rows.append(
                    {
                        "system": "etcd 3.4",
                        "clients": clients,
                        "contended": contended,
                        **await _measure(clients, cycle),
                    }
                )
    return rows


def run() -> list[dict[str, Any]]:
    rows = asyncio.run(_sinkron_rows())
    if etcd_available():
        rows += asyncio.run(_etcd_rows())
    else:
        rows.append(
            {
                "system": "etcd (not installed: apt-get install etcd-server)",
                "clients": 0,
                "contended": False,
            }
        )
    return rows
