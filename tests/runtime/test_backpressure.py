"""A leader bounds what is in flight, and a node stops promptly whatever its peers do.

In-process nodes on 127.0.0.1: a single-voter cluster elects itself, and its
storage is gated so that nothing commits until the test says so; a flood of
proposals then meets the bound at a known moment.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.backends.ports import free_ports
from impl.runtime.config import Settings, collect_raw, validate
from impl.runtime.node import Node
from impl.runtime.outcomes import Unavailable
from impl.runtime.requests import Overloaded


def _settings(tmp_path: Path, peers: str, **extra: str) -> Settings:
    env = {
        "SINKRON_NODE_ID": "n1",
        "SINKRON_PEERS": peers,
        "SINKRON_CLUSTER_SECRET": "s",
        "SINKRON_DATA_DIR": str(tmp_path / "n1"),
        "SINKRON_TICK_MS": "5",
        **extra,
    }
    return validate(collect_raw({}, env, None))


async def _leader(tmp_path: Path, **extra: str) -> Node:
    node = Node(_settings(tmp_path, f"n1=127.0.0.1:{free_ports(1)[0]}", **extra))
    await node.start()
    deadline = time.monotonic() + 10
    while not (node.is_leader() and node.applied_index >= node.raft.last_index):
        assert time.monotonic() < deadline, "a single voter should elect itself"
        await asyncio.sleep(0.01)
    return node


def _gate_storage(node: Node) -> asyncio.Event:
    """Hold every commit until the returned event is set."""
    gate = asyncio.Event()
    submit = node.storage.submit
    waiting: set[asyncio.Task[None]] = set()

    def gated(writes: list[Any], done: Callable[[float | Exception], None]) -> None:
        async def later() -> None:
            await gate.wait()
            submit(writes, done)

        waiting.add(asyncio.get_running_loop().create_task(later()))

    node.storage.write_now = lambda writes: None  # type: ignore[method-assign]
    node.storage.submit = gated  # type: ignore[method-assign]
    return gate


def _write(i: int, value: Any = None) -> dict[str, Any]:
    return {"f": "write", "key": f"k{i}", "value": i if value is None else value}


def test_a_flood_beyond_the_bound_is_refused_at_once_not_queued(tmp_path: Path) -> None:
    """With 8 allowed in flight, 8 of 200 proposals wait for commit; 192 fail fast, retryable."""

    async def scenario() -> None:
        node = await _leader(tmp_path, SINKRON_MAX_INFLIGHT_PROPOSALS="8")
        try:
            gate = _gate_storage(node)
            flood = [asyncio.create_task(node.propose_local("kv", _write(i))) for i in range(200)]
            await asyncio.sleep(0.05)  # the refusals need no commit, only a loop pass
            refused = [t for t in flood if t.done()]
            waiting = [t for t in flood if not t.done()]
            assert (len(refused), len(waiting)) == (192, 8)
            for task in refused:
                error = task.exception()
                assert isinstance(error, Overloaded), error
                assert "SINKRON_MAX_INFLIGHT_PROPOSALS=8" in str(error)
                assert error.status == 503 and error.code == "unavailable"  # retryable
            assert node.raft.last_index - node.applied_index == 8  # nothing else appended
            gate.set()
            results = await asyncio.gather(*waiting)  # committed and applied, no error
            assert all(isinstance(r, dict) and r.get("ok", True) for r in results), results
            await node.propose_local("kv", _write(1000))  # room again once applied
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_the_byte_bound_refuses_more_but_admits_one_large_command(tmp_path: Path) -> None:
    """A command above the byte bound still goes through alone; nothing joins it meanwhile."""

    async def scenario() -> None:
        node = await _leader(tmp_path, SINKRON_MAX_INFLIGHT_BYTES="200")
        try:
            gate = _gate_storage(node)
            big = asyncio.create_task(node.propose_local("kv", _write(1, "x" * 1000)))
            await asyncio.sleep(0.01)
            with pytest.raises(Overloaded, match="SINKRON_MAX_INFLIGHT_BYTES=200"):
                await node.propose_local("kv", _write(2))
            gate.set()
            await big
            await node.propose_local("kv", _write(3))
            assert node._inflight_bytes == 0
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_stop_is_prompt_when_peers_are_dead_or_blackholed(tmp_path: Path) -> None:
    """One peer's port is closed, the other accepts and never answers: stop still takes < 3 s."""

    async def scenario() -> float:
        with socket.socket() as blackhole:
            blackhole.bind(("127.0.0.1", 0))
            blackhole.listen(16)  # accepts into the backlog; never reads or answers
            dead, own = free_ports(2)
            peers = (
                f"n1=127.0.0.1:{own},n2=127.0.0.1:{blackhole.getsockname()[1]},n3=127.0.0.1:{dead}"
            )
            node = Node(_settings(tmp_path, peers))
            await node.start()
            await asyncio.sleep(1.0)  # links dialing, timing out, backing off
            started = time.monotonic()
            await node.stop()
            return time.monotonic() - started

    assert asyncio.run(scenario()) < 3.0


def test_three_nodes_without_fsync_commit_on_the_spot_and_agree(tmp_path: Path) -> None:
    """fsync off takes the on-the-spot commit path; 300 concurrent writes end equal everywhere."""

    async def scenario() -> None:
        ports = free_ports(3)
        peers = ",".join(f"n{i + 1}=127.0.0.1:{port}" for i, port in enumerate(ports))
        nodes = []
        for i in range(3):
            env = {
                "SINKRON_NODE_ID": f"n{i + 1}",
                "SINKRON_PEERS": peers,
                "SINKRON_CLUSTER_SECRET": "s",
                "SINKRON_DATA_DIR": str(tmp_path / f"n{i + 1}"),
                "SINKRON_FSYNC": "0",
            }
            nodes.append(Node(validate(collect_raw({}, env, None))))
        for node in nodes:
            await node.start()
        deadline = time.monotonic() + 30

        async def leader() -> Node:
            while not any(n.is_leader() for n in nodes):
                assert time.monotonic() < deadline, "no leader"
                await asyncio.sleep(0.01)
            return next(n for n in nodes if n.is_leader())

        async def write(i: int) -> None:
            # Three nodes share this test's one event loop; on a loaded CI machine a starved
            # loop can cost the leader its term. A refused write certainly did not happen:
            # send it again to whoever leads now, as a client would.
            while True:
                try:
                    await (await leader()).propose_local("kv", _write(i % 40, i))
                    return
                except Unavailable:
                    assert time.monotonic() < deadline, "writes kept being refused"
                    await asyncio.sleep(0.01)

        try:
            await asyncio.gather(*(write(i) for i in range(300)))
            target = (await leader()).applied_index
            while min(n.applied_index for n in nodes) < target:
                assert time.monotonic() < deadline, "followers did not catch up"
                await asyncio.sleep(0.01)
            images = {n.services["kv"].snapshot() for n in nodes}
            assert len(images) == 1
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())
