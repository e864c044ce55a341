"""The client sorts every reply into value / OperationFailed / OutcomeUnknown, and retries only when safe.

Fake nodes are small aiohttp servers whose behaviour each test chooses:
answer, delay, reset the connection, or return a given status.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from harness.client import AsyncClient, Client, OperationFailed, OutcomeUnknown, Unavailable

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeNode:
    """One fake node: counts requests per path and answers with ``behaviour``."""

    def __init__(self, behaviour: Behaviour, *, node_id: str = "n1", leader: str | None = None):
        self.behaviour = behaviour
        self.node_id = node_id
        self.leader = leader
        self.hits: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/status":
            role = "leader" if self.leader == self.node_id else "follower"
            return web.json_response({"id": self.node_id, "role": role, "leader": self.leader})
        self.hits.append(f"{request.method} {request.path}")
        return await self.behaviour(request)

    async def start(self) -> FakeNode:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def reply(status: int, body: dict[str, Any]) -> Behaviour:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status)

    return behaviour


def echo_value() -> Behaviour:
    async def behaviour(request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else {"value": 7}
        return web.json_response({"value": body.get("value", 7)})

    return behaviour


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(coroutine_function: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine_function(), timeout=20))


def test_timeout_after_sending_is_outcome_unknown_and_not_retried() -> None:
    """A write whose reply never comes may have been applied: OutcomeUnknown, sent once."""

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.6)
        return web.json_response({"value": 1})

    async def scenario() -> None:
        node = await FakeNode(slow).start()
        other = await FakeNode(echo_value()).start()
        async with AsyncClient([node.url, other.url], timeout_s=0.2, prefer_leader=False) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                await client.put("k", 1)
        assert caught.value.reason == "timeout"
        assert node.hits == ["PUT /kv/k"] and other.hits == []
        await node.stop()
        await other.stop()

    run(scenario)


def test_connection_reset_after_sending_is_outcome_unknown() -> None:
    """A reset after the request left may hide an applied write: OutcomeUnknown."""

    async def reset(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(0.1)
        return web.json_response({})

    async def scenario() -> None:
        node = await FakeNode(reset).start()
        async with AsyncClient([node.url], prefer_leader=False) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                await client.cas("k", 1, 2)
        assert caught.value.reason == "connection-lost"
        assert node.hits == ["POST /kv/k/cas"]
        await node.stop()

    run(scenario)


@pytest.mark.parametrize(
    ("status", "reason"), [(504, "server-timeout"), (500, "http-500"), (502, "http-502")]
)
def test_server_side_timeouts_and_errors_are_outcome_unknown(status: int, reason: str) -> None:
    """504 timeout and 5xx other than 503 leave the outcome open."""

    async def scenario() -> None:
        node = await FakeNode(reply(status, {"error": "timeout"})).start()
        async with AsyncClient([node.url], prefer_leader=False) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                await client.put("k", 1)
        assert caught.value.reason == reason
        assert len(node.hits) == 1
        await node.stop()

    run(scenario)


def test_unavailable_is_retried_on_the_next_node() -> None:
    """503 means definitely not applied, so the client may try another node."""

    async def scenario() -> None:
        down = await FakeNode(reply(503, {"error": "unavailable", "message": "no leader"})).start()
        up = await FakeNode(echo_value()).start()
        async with AsyncClient([down.url, up.url], prefer_leader=False) as client:
            assert await client.put("k", 3) == 3
        assert down.hits == ["PUT /kv/k"] and up.hits == ["PUT /kv/k"]
        await down.stop()
        await up.stop()

    run(scenario)


def test_unavailable_everywhere_is_a_definite_failure_after_the_retries() -> None:
    """When every attempt got 503 the write definitely did not happen: Unavailable (a failure)."""

    async def scenario() -> None:
        node = await FakeNode(reply(503, {"error": "unavailable"})).start()
        async with AsyncClient(
            [node.url], retries=2, retry_delay_s=0.01, prefer_leader=False
        ) as client:
            with pytest.raises(Unavailable) as caught:
                await client.put("k", 1)
        assert isinstance(caught.value, OperationFailed)
        assert caught.value.code == "unavailable" and caught.value.status == 503
        assert len(node.hits) == 3
        await node.stop()

    run(scenario)


def test_connection_refused_is_retried_on_the_next_node() -> None:
    """A refused connection never carried the request, so failing over is safe."""

    async def scenario() -> None:
        up = await FakeNode(echo_value()).start()
        dead = f"http://127.0.0.1:{closed_port()}"
        async with AsyncClient([dead, up.url], prefer_leader=False) as client:
            assert await client.put("k", 5) == 5
        assert up.hits == ["PUT /kv/k"]
        await up.stop()

    run(scenario)


def test_every_node_refusing_is_unavailable() -> None:
    """No reachable node means nothing was applied: Unavailable with no HTTP status."""

    async def scenario() -> None:
        dead = f"http://127.0.0.1:{closed_port()}"
        async with AsyncClient([dead], retries=1, retry_delay_s=0.01) as client:
            with pytest.raises(Unavailable) as caught:
                await client.get("k")
        assert caught.value.status is None

    run(scenario)


def test_cas_mismatch_is_a_definite_failure_carrying_the_current_value() -> None:
    """409 cas-mismatch is a refusal: OperationFailed with body['current'], no retry."""

    async def scenario() -> None:
        node = await FakeNode(reply(409, {"error": "cas-mismatch", "current": 4})).start()
        async with AsyncClient([node.url], prefer_leader=False) as client:
            with pytest.raises(OperationFailed) as caught:
                await client.cas("k", 1, 2)
        assert caught.value.code == "cas-mismatch"
        assert caught.value.body["current"] == 4
        assert len(node.hits) == 1
        await node.stop()

    run(scenario)


def test_missing_key_is_a_not_found_failure() -> None:
    """404 not-found is a definite answer to a read."""

    async def scenario() -> None:
        node = await FakeNode(reply(404, {"error": "not-found"})).start()
        async with AsyncClient([node.url]) as client:
            with pytest.raises(OperationFailed) as caught:
                await client.get("k")
        assert caught.value.code == "not-found" and caught.value.status == 404
        await node.stop()

    run(scenario)


def test_client_sends_to_the_leader_reported_by_status() -> None:
    """With prefer_leader the first attempt goes to the node /status names as leader."""

    async def scenario() -> None:
        nodes = [
            await FakeNode(echo_value(), node_id=f"n{i}", leader="n3").start() for i in (1, 2, 3)
        ]
        async with AsyncClient([node.url for node in nodes]) as client:
            assert await client.put("k", 9) == 9
            assert client.leader_url == nodes[2].url
        assert [len(node.hits) for node in nodes] == [0, 0, 1]
        for node in nodes:
            await node.stop()

    run(scenario)


def test_blocking_client_gives_the_same_outcomes() -> None:
    """The blocking wrapper returns values and raises the same classes as AsyncClient."""
    loop = asyncio.new_event_loop()
    node = loop.run_until_complete(FakeNode(echo_value()).start())
    missing = loop.run_until_complete(FakeNode(reply(404, {"error": "not-found"})).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with Client([node.url], prefer_leader=False) as client:
            assert client.put("k", 11) == 11
            assert client.discover_leader() is None  # wrapped automatically via __getattr__
        with Client([missing.url]) as client, pytest.raises(OperationFailed):
            client.get("k")
    finally:
        asyncio.run_coroutine_threadsafe(node.stop(), loop).result()
        asyncio.run_coroutine_threadsafe(missing.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
