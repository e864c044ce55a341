"""A local Sinkron cluster for benchmarks: the LocalBackend with test hooks off.

The nodes dial each other's peer ports directly (``DirectNetwork``), as a
deployment does. The backend's default network relays every peer byte
through the harness's event loop so that tests can cut links; in a benchmark
that loop is also the load generator's, and the relay would add a hop (and
its CPU) to every replication round trip while measuring nothing of Sinkron.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from harness.backends.base import ClusterSpec
from impl.runtime.eventloop import loop_factory

T = TypeVar("T")


class DirectNetwork:
    """Peers reach each other on 127.0.0.1 without a relay; cannot partition."""

    host = "127.0.0.1"

    async def setup(self, peer_ports: dict[str, int]) -> None:
        return None

    def node_host(self, node: str) -> str:
        return self.host

    def command_prefix(self, node: str) -> list[str]:
        return []

    def peer_address(self, source: str, target: str, peer_ports: dict[str, int]) -> tuple[str, int]:
        return self.host, peer_ports[target]

    async def partition(self, links: set[tuple[str, str]]) -> None:
        raise NotImplementedError("benchmark clusters have no relay to cut")

    async def heal(self) -> None:
        return None

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def sinkron_cluster(nodes: int = 3, *, fsync: bool = True) -> AsyncIterator[list[str]]:
    """Yield the HTTP URLs of a fresh local cluster; fsync on unless asked otherwise."""
    from harness.backends.local import LocalBackend

    with tempfile.TemporaryDirectory(prefix="sinkron-bench-") as tmp:
        spec = ClusterSpec(
            nodes=nodes,
            run_dir=Path(tmp),
            test_hooks=False,
            extra_env={"SINKRON_FSYNC": "1" if fsync else "0", "SINKRON_LOG_LEVEL": "warning"},
        )
        backend = LocalBackend(spec)
        backend.network = DirectNetwork()
        try:
            await backend.start()
            yield [backend.client_url(node) for node in backend.node_ids]
        finally:
            await backend.close()


async def leader_url(urls: list[str], timeout_s: float = 30.0) -> str:
    """The URL of the node whose /status says leader (clients send there, as a good client does)."""
    from harness.client.async_client import AsyncClient

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with AsyncClient(urls) as client:
        while loop.time() < deadline:
            url = await client.discover_leader()
            if url is not None:
                return url
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no leader within {timeout_s:.0f} s")


def run_fast(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a load generator on the loop a node runs on (uvloop when installed)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main())


class OtherLoad:
    """CPU the benchmark did not get while it measured, in cores.

    The benchmarks share the machine's 2 cores; a row measured while other
    work ran says so in its ``other_cores`` column: all non-idle CPU from
    /proc/stat (user, nice, system, interrupts, time stolen by the hypervisor)
    minus the CPU of this process and its children (the nodes it started).
    Interrupt time includes the benchmark's own loopback traffic, so a
    benchmark alone on the machine reads about 0.1; 0.0 where /proc is not
    readable.
    """

    def __init__(self) -> None:
        self._began = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as stat:
                fields = stat.readline().split()
            busy = sum(int(value) for value in fields[1:4] + fields[6:9])  # not idle, iowait
            ours = 0
            me = os.getpid()
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat") as pstat:
                        after_name = pstat.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(entry) == me or int(after_name[1]) == me:
                    ours += int(after_name[11]) + int(after_name[12])
        except OSError:
            return 0.0, 0.0, time.monotonic()
        tick = os.sysconf("SC_CLK_TCK")
        return busy / tick, ours / tick, time.monotonic()

    def cores(self) -> float:
        """Other processes' CPU since construction, in cores (rounded to 0.01)."""
        busy0, ours0, t0 = self._began
        busy1, ours1, t1 = self._sample()
        if t1 <= t0 or busy1 == 0.0:
            return 0.0
        return round(max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (t1 - t0), 2)


def quantile_ms(seconds: list[float], q: float) -> float:
    """The q-quantile of a list of durations in seconds, in milliseconds (nan when empty)."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def no_results(
    system: str, plan: list[dict[str, Any]], budget_s: float, logs: dict[str, Path]
) -> list[dict[str, Any]]:
    """The rows of a cluster that gave no results: every case of ``plan`` with a note.

    One lost case must not cost a benchmark of many minutes: the table says so (the
    round is left out of the medians) and each node's log tail goes to stderr.
    """
    for node, path in logs.items():
        tail = path.read_text(errors="replace")[-1500:]
        print(f"--- {system} {node} (no results)\n{tail}", file=sys.stderr)
    note = f"not measured: {system} gave no results within {budget_s:.0f} s"
    return [{**case, "note": note} for case in plan]
