"""Helpers shared by the backend tests: fake-node clusters and small async waits."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from harness.backends.base import ClusterSpec
from harness.backends.local import LocalBackend

FAKE_NODE = (sys.executable, str(Path(__file__).with_name("fake_node.py")))


def make_backend(tmp_path: Path, nodes: int = 3, **options: Any) -> LocalBackend:
    spec = ClusterSpec(nodes=nodes, run_dir=tmp_path / "run", **options.pop("spec", {}))
    return LocalBackend(spec, node_command=FAKE_NODE, stop_grace_s=2.0, **options)


async def get_json(url: str, timeout_s: float = 1.0) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
        session.get(url) as response,
    ):
        return dict(await response.json())


async def heard_ms_ago(backend: LocalBackend, node: str, peer: str) -> int | None:
    status = await get_json(backend.client_url(node) + "/status")
    return status["heard_ms_ago"].get(peer)


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


async def hears(backend: LocalBackend, node: str, peer: str) -> bool:
    """``node`` got a heartbeat from ``peer`` recently (they come every 50 ms)."""
    age = await heard_ms_ago(backend, node, peer)
    return age is not None and age < 300


async def silent(backend: LocalBackend, node: str, peer: str) -> bool:
    """``node`` has heard nothing from ``peer`` for well over ten heartbeats."""
    age = await heard_ms_ago(backend, node, peer)
    return age is not None and age > 600


async def assert_only_n1_to_n2_is_cut(backend: LocalBackend) -> None:
    """Waits (bounded) for n2 to go deaf to n1 while n1 still hears n2 and n3 still hears n1.

    Polling instead of fixed sleeps keeps this stable on a loaded machine.
    """
    await wait_until(lambda: silent(backend, "n2", "n1"), timeout_s=10)
    await wait_until(lambda: hears(backend, "n1", "n2"), timeout_s=10)
    await wait_until(lambda: hears(backend, "n3", "n1"), timeout_s=10)
    assert await silent(backend, "n2", "n1")
