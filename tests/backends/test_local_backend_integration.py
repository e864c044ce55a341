"""LocalBackend with real nodes (``python -m impl.runtime``): lifecycle and relay partitions.

These check the backend against the node runtime's real behaviour: a leader
is elected, a node cut off by the relays is replaced by the majority, killed
and paused nodes come back, and close leaves no process behind.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.backends.base import ClusterSpec
from harness.backends.local import LocalBackend
from harness.client import AsyncClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("impl.runtime.__main__") is None, reason="no node runtime yet"
    ),
]


async def status(backend: LocalBackend, node: str) -> dict[str, Any] | None:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as session,
            session.get(backend.client_url(node) + "/status") as response,
        ):
            return dict(await response.json())
    except (aiohttp.ClientError, TimeoutError):
        return None


async def wait_for(probe: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def leader_among(backend: LocalBackend, nodes: list[str]) -> tuple[str, int] | None:
    """(leader id, term) if some node in ``nodes`` is leader and all of them agree on it."""
    replies = [await status(backend, node) for node in nodes]
    if any(reply is None for reply in replies):
        return None
    leaders = [reply for reply in replies if reply and reply.get("role") == "leader"]
    named = {reply.get("leader") for reply in replies if reply}
    if len(leaders) != 1 or named != {leaders[0]["id"]}:
        return None
    return str(leaders[0]["id"]), int(leaders[0]["term"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=90))


def test_isolated_leader_is_replaced_and_the_cluster_serves_through_any_node(
    tmp_path: Path,
) -> None:
    """Cutting the leader off both ways lets the other two elect a new leader (Raft §5.2)."""

    async def scenario() -> None:
        backend = LocalBackend(ClusterSpec(nodes=3, run_dir=tmp_path / "run"))
        try:
            await backend.start()
            old_leader, old_term = await wait_for(
                lambda: leader_among(backend, backend.node_ids), "a first leader"
            )
            urls = [backend.client_url(node) for node in backend.node_ids]
            async with AsyncClient(urls[::-1], prefer_leader=False) as client:
                assert await client.put("k", 1) == 1
            others = [node for node in backend.node_ids if node != old_leader]
            cut = {(old_leader, other) for other in others} | {
                (other, old_leader) for other in others
            }
            await backend.partition(cut)
            new_leader, new_term = await wait_for(
                lambda: leader_among(backend, others), "the majority to elect a new leader"
            )
            assert new_leader != old_leader and new_term > old_term
            await backend.set_clock_offset(new_leader, 1500)  # the real test hook accepts it
            async with AsyncClient([backend.client_url(others[0])], prefer_leader=False) as client:
                assert await client.cas("k", 1, 2) == 2
            await backend.heal()
            agreed = await wait_for(
                lambda: leader_among(backend, backend.node_ids), "agreement after heal"
            )
            assert agreed[1] >= new_term
        finally:
            pids = [local.pid for local in backend.nodes.values() if local.pid]
            await backend.close()
        assert pids and not any(alive(pid) for pid in pids)

    run(scenario)


def test_killed_and_paused_followers_come_back_and_catch_up(tmp_path: Path) -> None:
    """A SIGKILLed follower restarts on its data and applies what it missed; a paused one resumes."""

    async def scenario() -> None:
        async with LocalBackend(ClusterSpec(nodes=3, run_dir=tmp_path / "run")) as backend:
            leader, _ = await wait_for(
                lambda: leader_among(backend, backend.node_ids), "a first leader"
            )
            killed, paused = [node for node in backend.node_ids if node != leader]
            urls = [backend.client_url(node) for node in backend.node_ids]
            async with AsyncClient(urls) as client:

                async def applied(node: str, index: int) -> bool:
                    reply = await status(backend, node)
                    return reply is not None and reply["applied_index"] >= index

                await backend.pause_node(paused)
                await client.put("k", "while-paused")
                assert await status(backend, paused) is None  # frozen: the request hangs
                commit_index = (await client.status(backend.client_url(leader)))["commit_index"]
                await backend.resume_node(paused)
                await wait_for(lambda: applied(paused, commit_index), "the resumed node")

                await backend.kill_node(killed)
                await client.put("k", "while-down")
                commit_index = (await client.status(backend.client_url(leader)))["commit_index"]
                await backend.start_node(killed)
                await wait_for(lambda: applied(killed, commit_index), "the restarted node")
                assert await client.get("k") == "while-down"
            assert backend.nodes[killed].log_path.read_text().count(f"=== start {killed}") == 2

    run(scenario)
