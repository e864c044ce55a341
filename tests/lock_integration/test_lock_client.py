"""The client's lock context manager against a real cluster: acquire, keepalive, release, token."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.client import AsyncClient, Client
from harness.client.errors import OperationFailed
from tests.runtime.cluster import LocalCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    nodes = LocalCluster(Path(tmp_path_factory.mktemp("lock-client"))).start()
    nodes.leader()
    try:
        yield nodes
    finally:
        nodes.close()


def test_blocking_lock_keeps_the_lease_alive_past_its_ttl_and_releases_on_exit(
    cluster: LocalCluster,
) -> None:
    """`with client.lock(...)` outlives its ttl thanks to keepalives, then frees the lock."""
    urls = [cluster.url(n) for n in cluster.ids]
    with Client(urls) as client:
        with client.lock("held", ttl=0.6, owner="keeper") as token:
            time.sleep(1.5)  # more than two ttls
            holders = client.lock_state("held")["holders"]
            assert [(h["owner"], h["token"]) for h in holders] == [("keeper", token)]
            with pytest.raises(OperationFailed) as refused:
                client.acquire_lock("held", "intruder", wait_ms=0)
            assert refused.value.code == "timeout"
        assert client.lock_state("held")["holders"] == []


def test_async_lock_hands_tokens_that_increase_and_fences_the_older_one(
    cluster: LocalCluster,
) -> None:
    """Two successive holds get increasing tokens; a fenced write with the older token is refused."""

    async def scenario() -> None:
        async with AsyncClient([cluster.url(n) for n in cluster.ids]) as client:
            async with client.lock("fence-me") as first:
                await client.fenced_write("ledger", ["first"], first)
            async with client.lock("fence-me") as second:
                assert second > first
                assert await client.fenced_read("ledger", second) == ["first"]
                with pytest.raises(OperationFailed) as fenced:
                    await client.fenced_write("ledger", ["stale"], first)
                assert fenced.value.code == "fenced"
                await client.fenced_write("ledger", ["first", "second"], second)
            assert await client.fenced_get("ledger") == ["first", "second"]

    asyncio.run(scenario())


def test_deadlock_reaches_the_client_as_operation_failed_with_the_cycle(
    cluster: LocalCluster,
) -> None:
    """The client surfaces 409 deadlock as OperationFailed("deadlock") whose body names the cycle."""
    with Client([cluster.url(n) for n in cluster.ids]) as client:
        client.acquire_lock("p", "A")
        b = client.acquire_lock("q", "B")
        waiting: list[dict] = []
        thread = threading.Thread(
            target=lambda: waiting.append(client.acquire_lock("q", "A", wait_ms=8000))
        )
        thread.start()
        time.sleep(0.5)
        with pytest.raises(OperationFailed) as refused:
            client.acquire_lock("p", "B", wait_ms=8000)
        assert refused.value.code == "deadlock" and refused.value.body["cycle"] == ["B", "A"]
        client.release_lock("q", "B", b["token"])
        thread.join(10)
        assert waiting and waiting[0]["token"] > b["token"]
