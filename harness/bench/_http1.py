"""A lean HTTP/1.1 keep-alive client for the load generators of the HTTP benchmarks.

Why not aiohttp's client: the benchmarks run 3 nodes and the load generator
on the same 2 cores, and aiohttp's client spends about as much CPU per request
as the node that serves it, so it measured its own cost as much as the
node's. This client is an ``asyncio.Protocol`` with one request in flight per
connection: it writes one request and parses one complete response (status
line, headers, a Content-Length or chunked body) before the round trip
counts. Every failure (a refused or dropped connection, a malformed response)
raises ``Http1Error``; the callers count those as errors, never drop them.
"""

from __future__ import annotations

import asyncio
import json
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # pragma: no cover - a dependency of the package
    orjson = None


def _encode(body: Any) -> bytes:
    """JSON bytes of a request body: orjson when it can (a tenth of the stdlib's CPU)."""
    if orjson is not None:
        try:
            return orjson.dumps(body)
        except TypeError:  # integers beyond 64 bits
            pass
    return json.dumps(body).encode()


class Http1Error(Exception):
    """The request got no complete HTTP response (the connection is closed)."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nobody asked: the stream is out of step
            self._fail(Http1Error("unsolicited bytes from the server"))
            return
        # Usually one read holds one whole response: parse it in place, copy nothing.
        buffer: bytes | bytearray = data
        if self.buffer:
            self.buffer += data
            buffer = self.buffer
        try:
            parsed = _parse(buffer)
        except (Http1Error, ValueError) as error:
            self._fail(error if isinstance(error, Http1Error) else Http1Error(str(error)))
            return
        if parsed is None:
            if buffer is data:
                self.buffer += data
            return
        status, body, used, close = parsed
        if buffer is data:
            self.buffer += data[used:]  # bytes past the response: the next data_received fails
        else:
            del self.buffer[:used]
        self.waiter.set_result((status, body))
        if close:
            self._fail(Http1Error("server closed the connection"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(Http1Error(f"connection lost: {exc or 'closed by peer'}"))

    def _fail(self, error: Http1Error) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()


def _field(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a lower-cased response head (first occurrence)."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + len(name) + 3 : end if end >= 0 else len(head)].strip()


def _parse(buffer: bytes | bytearray) -> tuple[int, bytes, int, bool] | None:
    """(status, body, bytes used, server closes) for one complete response, or None.

    Bytes operations on the lower-cased head, no per-line Python loop: the
    generator parses every response the benchmark counts.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    if not head.startswith(b"http/1.") or head[8:9] != b" " or not head[9:12].isdigit():
        raise Http1Error(f"malformed status line {head[:80]!r}")
    status = int(head[9:12])
    length, encoding, connection = (
        _field(head, b"content-length"),
        _field(head, b"transfer-encoding"),
        _field(head, b"connection"),
    )
    close = connection is not None and b"close" in connection
    start = end + 4
    if encoding is not None and b"chunked" in encoding:
        return _parse_chunked(buffer, start, status, close)
    if length is None or not length.isdigit():
        raise Http1Error(f"response without a valid Content-Length: {head[:200]!r}")
    size = int(length)
    if len(buffer) < start + size:
        return None
    return status, bytes(buffer[start : start + size]), start + size, close


def _parse_chunked(
    buffer: bytes | bytearray, at: int, status: int, close: bool
) -> tuple[int, bytes, int, bool] | None:
    body = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        except ValueError:
            raise Http1Error("malformed chunk size") from None
        at = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", at - 2)
            if trailer_end < 0:
                return None
            return status, bytes(body), trailer_end + 4, close
        if len(buffer) < at + size + 2:
            return None
        body += buffer[at : at + size]
        at += size + 2


class Http1Client:
    """One keep-alive connection to ``base_url``, one request at a time (reconnects on loss)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._protocol: _Protocol | None = None
        self._heads: dict[tuple[str, str, bool], bytes] = {}  # request line and fixed headers

    async def _connection(self) -> _Protocol:
        if self._protocol is None or self._protocol.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self._protocol = protocol
        return self._protocol

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Send one request (``body`` as JSON when not None); the status and body bytes.

        Raises:
            Http1Error: no complete response arrived (the connection is dropped).
        """
        try:
            protocol = await self._connection()
        except OSError as error:
            raise Http1Error(f"connect: {error}") from None
        payload = b"" if body is None else _encode(body)
        head = self._heads.get((method, path, body is not None))
        if head is None:
            text = f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            if body is not None:
                text += "Content-Type: application/json\r\n"
            head = self._heads[(method, path, body is not None)] = text.encode()
        waiter = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        assert protocol.transport is not None
        protocol.transport.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(payload), payload))
        try:
            return await waiter
        finally:
            if not waiter.done():  # cancelled mid-flight: the connection is out of step
                protocol._fail(Http1Error("request cancelled"))
            protocol.waiter = None

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Like ``request``; the body decoded as JSON (None when empty)."""
        status, raw = await self.request(method, path, body)
        return status, json.loads(raw) if raw else None

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
