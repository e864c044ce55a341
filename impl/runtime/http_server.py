"""The node's HTTP/1.1 server: an asyncio Protocol on httptools (llhttp, the parser uvicorn uses).

Why not aiohttp's server: on a 3-node cluster sharing 2 cores the leader's
CPU per request bounds throughput and, with closed-loop clients, latency.
aiohttp's web server spends tens of microseconds per request in Python
(request and response objects, multidict headers, a payload stream, a
writer); this one parses in C and writes each response with one
``transport.write`` of bytes built by concatenation.

What it guarantees (tests/runtime/test_http_server.py):

- keep-alive (HTTP/1.1 default, HTTP/1.0 on request) and pipelining: requests
  on a connection are answered in order, one handler at a time; reading
  pauses while 16 are queued or the client is not reading its answers;
- bodies by Content-Length or chunked, at most ``max_body`` bytes: a larger
  declared or received body is a 413 and the connection closes;
- a head (request line and headers) over ``max_head`` bytes or 100 fields is
  a 431, a target over 8 KiB a 414, anything llhttp refuses a 400; each
  closes the connection after earlier pipelined answers are written;
- a request begun and not complete within ``request_timeout_s`` (slowloris)
  gets a 408 and the connection closes; an idle keep-alive connection closes
  after ``keepalive_timeout_s``;
- ``Expect: 100-continue`` gets its interim answer; ``HEAD`` gets the
  ``GET`` answer's head; an ``Upgrade`` is answered without upgrading (then
  the connection closes);
- the dispatcher's exceptions become a 500 JSON answer (the dispatcher in
  impl/runtime/http.py already turns every handler failure into an answer);
  a client that disconnects does not cancel its handler (a write proposed
  runs to its outcome either way).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus

import httptools

from impl.runtime.http_message import Request, Response

log = logging.getLogger("sinkron.http")

Dispatch = Callable[[Request], Awaitable[Response]]

MAX_BODY = 1 << 20
MAX_HEAD = 64 * 1024
MAX_TARGET = 8 * 1024
MAX_FIELDS = 100
MAX_PIPELINED = 16
REQUEST_TIMEOUT_S = 10.0
KEEPALIVE_TIMEOUT_S = 75.0
SWEEP_INTERVAL_S = 1.0


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


_STATUS_LINES = {status.value: _status_line(status.value) for status in HTTPStatus}


class _Date:
    """The ``Date`` header line, formatted once a second (RFC 9110 §6.6.1)."""

    second = -1
    line = b""

    @classmethod
    def header(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return cls.line


def error_body(code: str, message: str) -> bytes:
    """The API's error shape, for answers given before (or instead of) any handler."""
    return json.dumps({"error": code, "message": message}).encode()


def encode_response(response: Response, *, head_only: bool, close: bool) -> bytes:
    """The bytes of one answer: status line, headers, body (left out for HEAD)."""
    body = response.body
    status_line = _STATUS_LINES.get(response.status) or _status_line(response.status)
    head = (
        status_line
        + b"Content-Type: "
        + response.content_type_header.encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + _Date.header()
        + b"Server: sinkron\r\n"
    )
    for name, value in response.headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        head += f"{name}: {value}\r\n".encode("latin-1")
    if close:
        head += b"Connection: close\r\n"
    head += b"\r\n"
    return head if head_only else head + body


class _Reject(Exception):
    """Raised from a parser callback: answer this and close the connection."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = Response(error_body(code, message), status=status)


class _Connection(asyncio.Protocol):
    """One client connection: parse, queue, dispatch in order, write."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # The message being parsed.
        self.url = b""
        self.headers: dict[str, str] = {}
        self.head_bytes = 0
        self.fresh_head = False
        self.in_head = False
        self.body: list[bytes] = []
        self.body_size = 0
        self.partial_since: float | None = None
        # What is waiting to be answered, in order: requests, or a final answer (then close).
        self.queue: collections.deque[Request | Response] = collections.deque()
        self.busy = False  # a task is working through the queue
        self.reading_paused = False  # too many pipelined requests queued
        self.closing = False  # no more requests are read
        self.idle_since: float | None = None
        self.writable: asyncio.Future[None] | None = None  # set while the transport is paused

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.idle_since = self.server.now()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        self.queue.clear()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def eof_received(self) -> bool | None:
        """The client sent all it will (a half-close): answer what is queued, then close."""
        self.closing = True
        self.partial_since = None  # a request cut short will not complete
        if self.busy:
            return True  # keep the transport open for the answers
        return None

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None:
            if not self.writable.done():
                self.writable.set_result(None)
            self.writable = None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(None)  # the request before the upgrade is answered; then we close
            return
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, _Reject):
                self._finish(cause.response)
            else:
                message = f"malformed request: {str(error)[:200]}"
                self._finish(Response(error_body("bad-request", message), status=400))
            return
        if self.in_head:  # a head arriving in pieces: bound what llhttp and we buffer
            if self.fresh_head:
                self.fresh_head = False
            else:
                self.head_bytes += len(data)
                if self.head_bytes > self.server.max_head:
                    self._finish(_Reject(431, "too-large", "request head too large").response)

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.head_bytes = 0
        self.fresh_head = True
        self.in_head = True
        self.body = []
        self.body_size = 0
        self.partial_since = self.server.now()
        self.idle_since = None

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_TARGET:
            raise _Reject(414, "too-large", f"request target longer than {MAX_TARGET} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        if self.head_bytes > self.server.max_head or len(self.headers) >= MAX_FIELDS:
            raise _Reject(431, "too-large", "request head too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        previous = self.headers.get(key)
        self.headers[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_bytes = 0
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.server.max_body:
            raise _Reject(413, "too-large", f"body larger than {self.server.max_body} bytes")
        expect = self.headers.get("expect", "").lower()
        # Only when nothing is being answered (else the client sends its body after a pause).
        if expect == "100-continue" and not self.queue and not self.busy and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.server.max_body:
            raise _Reject(413, "too-large", f"body larger than {self.server.max_body} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.partial_since = None
        method = self.parser.get_method().decode("ascii", "replace")
        url = self.url
        if url.startswith(b"/"):
            path, _, query = url.partition(b"?")
        else:  # absolute-form (http://host/path) or asterisk-form (*)
            try:
                parsed = httptools.parse_url(url)
                path, query = parsed.path or b"*", parsed.query or b""
            except httptools.HttpParserInvalidURLError:
                path, query = url, b""
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        request = Request(
            method,
            path.decode("latin-1"),
            query.decode("latin-1"),
            self.headers,
            body,
        )
        if not self.parser.should_keep_alive():
            request.keep_alive = False
            self.closing = True  # nothing after this request is read
        self.queue.append(request)
        if not self.busy:
            self.busy = True
            self.server.loop.create_task(self._serve())
        elif len(self.queue) >= MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True

    # --- answering -------------------------------------------------------------------------

    def _finish(self, response: Response | None) -> None:
        """Read no more; answer what is queued, then ``response`` (if any), then close."""
        self.closing = True
        self.in_head = False
        self.partial_since = None
        if self.transport is not None:
            self.transport.pause_reading()
        if response is not None:
            self.queue.append(response)
        if not self.busy:
            if not self.queue:
                self._close()
                return
            self.busy = True
            self.server.loop.create_task(self._serve())

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def _serve(self) -> None:
        """Answer queued requests in order until the queue is empty."""
        try:
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, Response):  # a final answer: the connection ends
                    if self.transport is not None and not self.transport.is_closing():
                        self.transport.write(encode_response(item, head_only=False, close=True))
                    self._close()
                    return
                response = await self._dispatch(item)
                transport = self.transport
                if transport is None or transport.is_closing():
                    return
                close = not item.keep_alive
                head_only = item.method == "HEAD"
                try:
                    data = encode_response(response, head_only=head_only, close=close)
                except Exception:  # a handler's bad response (a str body, a line break in a header)
                    log.exception("cannot encode the answer to %s %s", item.method, item.path)
                    internal = Response(
                        error_body("internal", "internal error; see the node log"), 500
                    )
                    data = encode_response(internal, head_only=head_only, close=close)
                transport.write(data)
                if close:
                    self._close()
                    return
                if self.writable is not None:
                    await self.writable
                if self.reading_paused and len(self.queue) < MAX_PIPELINED and not self.closing:
                    self.reading_paused = False
                    transport.resume_reading()
            if self.closing:  # nothing more will be read (an upgrade, a server stopping)
                self._close()
        finally:
            self.busy = False
            if not self.queue and self.partial_since is None:
                self.idle_since = self.server.now()

    async def _dispatch(self, request: Request) -> Response:
        try:
            return await self.server.dispatch(request)
        except Exception:
            log.exception("dispatch failed on %s %s", request.method, request.path)
            return Response(error_body("internal", "internal error; see the node log"), 500)

    # --- timeouts (the server's sweeper calls this once a second) ---------------------------

    def sweep(self, now: float) -> None:
        if self.closing:
            return
        if (
            self.partial_since is not None
            and now - self.partial_since > self.server.request_timeout_s
        ):
            message = f"request not complete within {self.server.request_timeout_s:g} s"
            self._finish(Response(error_body("timeout", message), status=408))
        elif (
            self.idle_since is not None
            and not self.busy
            and now - self.idle_since > self.server.keepalive_timeout_s
        ):
            self.closing = True
            self._close()


class HttpServer:
    """Listens on one address and hands every complete request to ``dispatch``."""

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        max_body: int = MAX_BODY,
        max_head: int = MAX_HEAD,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        keepalive_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    ) -> None:
        self.dispatch = dispatch
        self.max_body = max_body
        self.max_head = max_head
        self.request_timeout_s = request_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.connections: set[_Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.now = time.monotonic
        # Set by start(); looked up once: get_running_loop() costs a getpid() system call.
        self.loop: asyncio.AbstractEventLoop

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        loop = self.loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True, backlog=1024
        )
        self._sweeper = loop.create_task(self._sweep())
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def _sweep(self) -> None:
        interval = min(SWEEP_INTERVAL_S, self.request_timeout_s / 2, self.keepalive_timeout_s / 2)
        while True:
            await asyncio.sleep(interval)
            now = self.now()
            for connection in list(self.connections):
                connection.sweep(now)

    async def close(self, grace_s: float = 3.0) -> None:
        """Stop listening; let answers in progress finish (up to ``grace_s``); close the rest."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.closing = True
            if not connection.busy:
                connection._close()
        deadline = self.now() + grace_s
        while any(c.busy for c in self.connections) and self.now() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection._close()
        if self._server is not None:
            await self._server.wait_closed()
