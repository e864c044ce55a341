"""The node's HTTP/1.1 server (impl/runtime/http_server.py) against raw bytes on a socket.

An in-process server with a small dispatcher that echoes what it parsed, so
each test states the exact bytes a client sends and the answer (or the
closed connection) it must get: pipelining, keep-alive, chunked bodies,
limits, malformed input, slow clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impl.runtime.http_message import Request, Response
from impl.runtime.http_server import HttpServer

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _echo(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("a bug in a handler")
    if request.path == "/slow":
        await asyncio.sleep(0.05)
    body = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "body": request.body.decode("latin-1"),
    }
    return Response(json.dumps(body).encode())


def _serve(test: Callable[[int], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        server = HttpServer(_echo, **options)
        port = await server.start("127.0.0.1", 0)
        try:
            await asyncio.wait_for(test(port), 10)
        finally:
            await server.close(grace_s=0.5)

    asyncio.run(main())


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response: status, lower-cased headers, body (by Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True when the server closed the connection (nothing more arrives)."""
    return await asyncio.wait_for(reader.read(), 5) == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"PUT /kv/a?x=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /third HTTP/1.1\r\n\r\n"
        )
        answers = [await _answer(reader) for _ in range(3)]
        assert [json.loads(body)["path"] for _, _, body in answers] == ["/slow", "/kv/a", "/third"]
        assert json.loads(answers[1][2]) == {
            "method": "PUT",
            "path": "/kv/a",
            "query": "x=1",
            "body": "hello",
        }
        assert all(status == 200 and "date" in headers for status, headers, _ in answers)
        writer.write(b"GET /again HTTP/1.1\r\n\r\n")  # still open: keep-alive
        assert (await _answer(reader))[0] == 200
        writer.close()

    _serve(test)


@pytest.mark.parametrize(
    "raw",
    [
        b"BLAH\r\n\r\n",  # no target, no version
        b"GET /x HTTP/9.9\r\n\r\n",  # unknown version
        b"GET /x HTTP/1.1\r\nbad header\r\n\r\n",  # no colon
        b"GET /x HTTP/1.1\r\nNa me: v\r\n\r\n",  # space in a field name
        b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
        b"\x00\x01\x02\xff\r\n\r\n",
    ],
)
def test_malformed_requests_get_a_json_400_and_the_connection_closes(raw: bytes) -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        status, headers, body = await _answer(reader)
        assert status == 400 and headers["connection"] == "close"
        assert json.loads(body)["error"] == "bad-request"
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_a_malformed_request_after_good_pipelined_ones_is_answered_after_them() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nNOT HTTP\r\n\r\n")
        statuses = [(await _answer(reader))[0] for _ in range(3)]
        assert statuses == [200, 200, 400]
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_a_huge_header_arriving_in_pieces_gets_431_and_is_not_buffered_whole() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nX-Big: ")
        answer = asyncio.create_task(_answer(reader))
        for _ in range(100):  # up to 1.6 MB, far more than the 64 KiB limit
            if answer.done():
                break
            try:
                writer.write(b"a" * 16384)
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(0.005)
        status, _, body = await answer
        assert status == 431 and json.loads(body)["error"] == "too-large"
        writer.close()

    _serve(test)


def test_more_than_a_hundred_header_fields_get_431() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fields = b"".join(b"X-%d: v\r\n" % i for i in range(150))
        writer.write(b"GET /x HTTP/1.1\r\n" + fields + b"\r\n")
        assert (await _answer(reader))[0] == 431
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_a_very_long_target_gets_414() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"k" * 10_000 + b" HTTP/1.1\r\n\r\n")
        assert (await _answer(reader))[0] == 414
        writer.close()

    _serve(test)


def test_a_request_that_never_completes_gets_408_and_is_closed() -> None:
    """Slowloris: a head trickling in (or a body never finished) does not hold a connection.

    The client keeps sending a byte every 50 ms for most of the timeout: the
    deadline runs from the request's first byte, not from the last one.
    """

    async def test(port: int) -> None:
        for start, trickle in (
            (b"GET /x HTTP/1.1\r\n", b"X-a: b"),
            (b"PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", b"def"),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            began = asyncio.get_running_loop().time()
            writer.write(start)
            for byte in trickle:
                await asyncio.sleep(0.05)
                writer.write(bytes([byte]))
            status, _, body = await _answer(reader)
            assert status == 408 and json.loads(body)["error"] == "timeout"
            assert await _closed(reader)
            assert 0.4 <= asyncio.get_running_loop().time() - began < 3
            writer.close()

    _serve(test, request_timeout_s=0.4)


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\n\r\n")
        assert (await _answer(reader))[0] == 200
        assert await _closed(reader)
        writer.close()

    _serve(test, keepalive_timeout_s=0.3)


def test_a_declared_body_over_the_limit_gets_413_before_it_is_sent() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /kv/a HTTP/1.1\r\nContent-Length: 2000\r\n\r\n")
        status, _, body = await _answer(reader)
        assert status == 413 and json.loads(body)["error"] == "too-large"
        assert await _closed(reader)
        writer.close()

    _serve(test, max_body=1000)


def test_chunked_bodies_are_decoded_and_limited() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
        )
        status, _, body = await _answer(reader)
        assert status == 200 and json.loads(body)["body"] == "hello world"
        big = b"%x\r\n%s\r\n" % (600, b"x" * 600)
        writer.write(b"PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + big + big)
        assert (await _answer(reader))[0] == 413
        assert await _closed(reader)
        writer.close()

    _serve(test, max_body=1000)


def test_http_1_0_closes_unless_keep_alive_is_asked_for() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert (await _answer(reader))[0] == 200
        writer.write(b"GET /b HTTP/1.0\r\n\r\n")
        status, headers, _ = await _answer(reader)
        assert status == 200 and headers["connection"] == "close"
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_connection_close_from_the_client_is_honoured_after_the_answer() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\n\r\n")
        assert (await _answer(reader))[0] == 200
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_head_gets_the_head_of_the_answer_without_a_body() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head
        status, _, body = await _answer(reader)  # the next answer follows the head directly
        assert status == 200 and json.loads(body)["path"] == "/b"
        writer.close()

    _serve(test)


def test_expect_100_continue_gets_the_interim_answer_before_the_body() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"ok")
        status, _, body = await _answer(reader)
        assert status == 200 and json.loads(body)["body"] == "ok"
        writer.close()

    _serve(test)


def test_an_upgrade_is_answered_without_upgrading_and_the_connection_closes() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
        )
        status, _, body = await _answer(reader)
        assert status == 200 and json.loads(body)["path"] == "/ws"
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_a_failing_dispatcher_is_a_500_and_the_connection_stays_usable() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /boom HTTP/1.1\r\n\r\nGET /fine HTTP/1.1\r\n\r\n")
        status, _, body = await _answer(reader)
        assert status == 500 and json.loads(body)["error"] == "internal"
        assert (await _answer(reader))[0] == 200
        writer.close()

    _serve(test)


def test_asterisk_and_absolute_form_targets_reach_the_dispatcher_as_paths() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"OPTIONS * HTTP/1.1\r\n\r\nGET http://h:1/kv/a?q=1 HTTP/1.1\r\n\r\n")
        assert json.loads((await _answer(reader))[2])["path"] == "*"
        echoed = json.loads((await _answer(reader))[2])
        assert (echoed["path"], echoed["query"]) == ("/kv/a", "q=1")
        writer.close()

    _serve(test)


def test_a_client_vanishing_mid_request_leaves_the_server_serving_others() -> None:
    async def test(port: int) -> None:
        _, gone = await asyncio.open_connection("127.0.0.1", port)
        gone.write(b"GET /slow HTTP/1.1\r\n\r\nPUT /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nab")
        await asyncio.sleep(0.01)
        gone.transport.abort()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /next HTTP/1.1\r\n\r\n")
        assert (await _answer(reader))[0] == 200
        writer.close()

    _serve(test)


_request_lines = st.sampled_from(
    [
        b"GET /a HTTP/1.1\r\n",
        b"CONNECT h:443 HTTP/1.1\r\n",
        b"PUT /kv/x HTTP/1.0\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"GET http://h/x?y HTTP/1.1\r\n",
        b"G\x00T / HTTP/1.1\r\n",
    ]
)
_header_lines = st.lists(
    st.sampled_from(
        [
            b"Content-Length: 3\r\n",
            b"Content-Length: x\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close\r\n",
            b"Connection: Upgrade\r\nUpgrade: h2c\r\n",
            b"Expect: 100-continue\r\n",
            b"X: \xff\xfe\r\n",
            b" folded\r\n",
        ]
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(
        st.tuples(_request_lines, _header_lines, st.binary(max_size=12)), min_size=1, max_size=3
    ),
    noise=st.binary(max_size=16),
)
def test_any_bytes_get_http_answers_or_a_close_and_the_server_keeps_serving(
    messages: list[tuple[bytes, list[bytes], bytes]], noise: bytes
) -> None:
    """Whatever arrives, every answer is a well-formed HTTP/1.1 response; the next client is served."""
    raw = b"".join(line + b"".join(fields) + b"\r\n" + body for line, fields, body in messages)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw + noise)
        with contextlib.suppress(OSError):
            writer.write_eof()
        try:
            received = await asyncio.wait_for(reader.read(), 2)
        except TimeoutError:  # a request waiting for more body bytes: the client hangs up
            received = b""
        except ConnectionError:
            received = b""
        writer.close()
        assert not received or received.startswith(b"HTTP/1.1 ")  # no stray bytes first
        for part in received.split(b"HTTP/1.1 ")[1:]:
            assert part[:3].isdigit() and int(part[:3]) in {100, 200, 400, 408, 413, 414, 431, 500}
        fresh_reader, fresh = await asyncio.open_connection("127.0.0.1", port)
        fresh.write(b"GET /alive HTTP/1.1\r\n\r\n")
        assert (await _answer(fresh_reader))[0] == 200
        fresh.close()

    _serve(test)


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer() -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
        writer.write_eof()
        assert [(await _answer(reader))[0] for _ in range(2)] == [200, 200]
        assert await _closed(reader)
        writer.close()

    _serve(test)


def test_a_long_pipeline_is_answered_completely_and_in_order() -> None:
    """More requests than the server queues at once: reading pauses and resumes, none is lost."""

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(b"GET /n/%d HTTP/1.1\r\n\r\n" % i for i in range(100)))
        paths = [json.loads((await _answer(reader))[2])["path"] for _ in range(100)]
        assert paths == [f"/n/{i}" for i in range(100)]
        writer.close()

    _serve(test)


def test_an_answer_that_cannot_be_encoded_becomes_a_500() -> None:
    async def bad(request: Request) -> Response:
        return Response(b"{}", headers={"X-Injected": "a\r\nSet-Cookie: x"})

    async def main() -> None:
        server = HttpServer(bad)
        port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            for _ in range(2):
                status, headers, _ = await asyncio.wait_for(_answer(reader), 5)
                assert status == 500 and "set-cookie" not in headers
            writer.close()
        finally:
            await server.close(grace_s=0.5)

    asyncio.run(main())
