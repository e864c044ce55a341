"""The benchmarks' lean HTTP/1.1 client: complete responses only, every failure an error."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from harness.bench._http1 import Http1Client, Http1Error, _parse


def test_a_response_counts_only_when_complete() -> None:
    whole = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
    assert _parse(bytearray(whole[:-1])) is None
    assert _parse(bytearray(whole + b"HTTP/1.1")) == (200, b"hello", len(whole), False)


def test_chunked_bodies_and_connection_close_are_understood() -> None:
    chunked = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n"
    chunked += b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    assert _parse(bytearray(chunked)) == (404, b"abcde", len(chunked), True)
    assert _parse(bytearray(chunked[:-2])) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"HTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_malformed_responses_are_errors(raw: bytes) -> None:
    with pytest.raises(Http1Error):
        _parse(bytearray(raw))


def test_round_trips_against_aiohttp_and_a_dropped_connection_is_an_error() -> None:
    async def scenario() -> None:
        async def echo(request: web.Request) -> web.Response:
            return web.json_response({"got": await request.json(), "path": request.path})

        async def drop(request: web.Request) -> web.Response:
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(1)
            return web.Response()

        app = web.Application()
        app.router.add_put("/echo/{key}", echo)
        app.router.add_get("/drop", drop)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        client = Http1Client(f"http://127.0.0.1:{port}")
        try:
            for n in range(3):  # one keep-alive connection, several round trips
                status, body = await client.json("PUT", "/echo/k", {"value": n})
                assert (status, body) == (200, {"got": {"value": n}, "path": "/echo/k"})
            with pytest.raises(Http1Error):
                await client.request("GET", "/drop")
            status, _ = await client.json("PUT", "/echo/k", {"value": 9})  # reconnects
            assert status == 200
        finally:
            client.close()
            await runner.cleanup()

    asyncio.run(scenario())
