"""The Python client sends a key (or lock name) as ONE percent-encoded path segment.

The node percent-decodes each captured segment (docs/http-api.md: ``/kv/a%2Fb`` is
the key ``a/b``), so the client must percent-encode what it puts in the path.
Otherwise ``put("x#y", v)`` writes the key ``x`` (the ``#...`` is a URL fragment),
``put("q?z=1", v)`` writes ``q``, ``put("p%41", v)`` writes ``pA`` and
``put("a/b", v)`` is refused as an unknown route -- silently wrong keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web

from harness.client import AsyncClient

KEYS = ["x#y", "q?z=1", "p%41", "a/b", "sp ace", "plain"]


async def _serve(seen: list[str]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.rel_url.raw_path)  # without the query: a raw "?" would start one
        if request.can_read_body:
            body: Any = await request.json()
            return web.json_response({"value": body.get("value"), "expires_at_ms": 1})
        return web.json_response({"value": 1})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _paths_sent(calls: Callable[[AsyncClient], Awaitable[None]]) -> list[str]:
    """The raw path of every request ``calls`` makes through a client of a stand-in server."""

    async def scenario() -> list[str]:
        seen: list[str] = []
        runner, url = await _serve(seen)
        try:
            async with AsyncClient([url], prefer_leader=False, retries=0) as client:
                await calls(client)
        finally:
            await runner.cleanup()
        return seen

    return asyncio.run(asyncio.wait_for(scenario(), timeout=20))


@pytest.mark.parametrize("key", KEYS)
def test_kv_key_is_sent_as_one_percent_encoded_segment(key: str) -> None:
    """get/put/cas put the whole key, percent-encoded, in the second path segment."""

    async def calls(client: AsyncClient) -> None:
        await client.put(key, 1)
        await client.get(key)
        await client.cas(key, 1, 2)

    seen = _paths_sent(calls)
    # Each request's path is /kv/<one segment>[/cas], and that segment percent-decodes to
    # the key, as the node decodes it. (The exact escapes may differ: yarl writes an '='
    # that quote() escaped as itself, which is the same segment.)
    assert [p.split("/")[3:] for p in seen] == [[], [], ["cas"]]
    assert [unquote(p.split("/")[2]) for p in seen] == [key] * 3


@pytest.mark.parametrize("name", KEYS)
def test_lock_names_and_fenced_keys_are_sent_as_one_percent_encoded_segment(name: str) -> None:
    """Every lock and fenced-register call puts the whole name in the second path segment."""

    async def calls(client: AsyncClient) -> None:
        await client.acquire_lock(name, "o")
        await client.release_lock(name, "o", 1)
        await client.keepalive_lock(name, "o", 1)
        await client.lock_state(name)
        await client.fenced_write(name, 1, 1)
        await client.fenced_read(name, 1)
        await client.fenced_get(name)

    seen = _paths_sent(calls)
    assert [p.split("/")[1] for p in seen] == ["locks"] * 4 + ["fenced"] * 3
    assert [p.split("/")[3:] for p in seen] == [
        ["acquire"],
        ["release"],
        ["keepalive"],
        [],
        [],
        ["read"],
        [],
    ]
    assert [unquote(p.split("/")[2]) for p in seen] == [name] * 7
