"""Authenticated TCP links between nodes, one dialed connection per directed link.

Theory of operation: node i sends to node j ONLY over the connection i
dialed to j; a connection j accepted from i carries i -> j traffic only and
j never writes to it after the handshake. So each directed link i -> j is
exactly one TCP connection, and the harness's relay (or an iptables rule) can
cut one direction without touching the other, which is what partitions need.

Outbound. Each peer has a ``PeerLink``: a bounded queue of encoded frames and
a task that dials (connect timeout ~200 ms), runs the auth handshake
(auth.py), and on any failure reconnects with exponential backoff capped at
1 s. While the link is up and idle (nothing queued, little unsent), ``send``
writes the frame to the socket's transport at once; otherwise the frame is
queued and the task writes the queue in one batch. When the queue is full the
oldest frame is dropped and counted: Raft tolerates message loss, and a
bounded queue keeps a partitioned peer from eating memory. When more than
``DRAIN_ABOVE_BYTES`` are waiting for the kernel and they do not drain within
``DRAIN_TIMEOUT_S`` (a blackholed link), the connection is dropped and
redialed.

Inbound. Each accepted connection is an ``_InboundConnection`` protocol, not
a stream and a task: it runs the acceptor's side of the handshake as a small
state machine (hello -> challenge -> proof, all within
``HANDSHAKE_TIMEOUT_S``), then hands every byte the socket produces straight
from ``data_received`` to its ``FrameDecoder`` and each decoded frame to
``on_frame(sender, frame)``, followed by one ``on_frames_done()`` per read.
That is the point of the design: a frame is stepped in the same loop callback
that read it, instead of waking a reader future and resuming a task one loop
iteration later, which at one write in flight was a large share of each
round trip. Garbage, oversized frames and failed handshakes close that
connection and bump ``dropped_frames``; they never reach the node and never
raise out of the transport.

Inbound flow control needs no ``pause_reading``: ``on_frame`` and
``on_frames_done`` are synchronous, so a read is fully processed before the
loop reads again, and the only bytes held are one partial frame (at most
``max_frame_bytes``). A sender that outpaces the node fills the kernel's
receive buffer and TCP's window stops it, exactly as a reading task would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.runtime import auth
from impl.runtime.framing import (
    HEADER,
    FrameDecoder,
    FrameTooLargeError,
    decode_payload,
    encode_frame,
    take_frame_payload,
)
from impl.runtime.metrics import Metrics

log = logging.getLogger("sinkron.transport")

CONNECT_TIMEOUT_S = 0.2
HANDSHAKE_TIMEOUT_S = 1.0
DRAIN_TIMEOUT_S = 1.0
DRAIN_ABOVE_BYTES = 16 * 1024
BACKOFF_MIN_S = 0.02
BACKOFF_MAX_S = 1.0
HANDSHAKE_MAX_FRAME_BYTES = 4096
CLOSE_TIMEOUT_S = 1.0

FrameHandler = Callable[[str, Any], None]


async def _read_frame(reader: asyncio.StreamReader, max_bytes: int) -> Any:
    header = await reader.readexactly(HEADER.size)
    (length,) = HEADER.unpack(header)
    if length > max_bytes:
        raise RemoteProtocolError(f"handshake frame of {length} bytes is too large")
    return decode_payload(await reader.readexactly(length))


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    """No Nagle delay: a Raft message is small and someone waits for its answer.

    asyncio and uvloop set it on TCP streams already; saying so keeps it true.
    """
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PeerLink:
    """The outgoing side of one directed link, self -> peer."""

    def __init__(self, transport: PeerTransport, peer: str, address: tuple[str, int]) -> None:
        self.transport = transport
        self.peer = peer
        self.address = address
        self.queue: deque[bytes] = deque()
        self.connected = False
        self._queue_max = transport.send_queue_max
        self._waiter: asyncio.Future[None] | None = None
        self._socket: asyncio.WriteTransport | None = None  # set while the link is up
        self._task = asyncio.create_task(self._run(), name=f"link-{peer}")

    def enqueue(self, frame: bytes) -> None:
        queue = self.queue
        if len(queue) >= self._queue_max:
            queue.popleft()
            self.transport.metrics.dropped_frames.labels(reason="queue-full").inc()
        sock = self._socket
        if (
            sock is not None
            and not queue
            and sock.get_write_buffer_size() <= DRAIN_ABOVE_BYTES
            and not sock.is_closing()
        ):
            # Fast path: the link is up and idle, so the frame goes to the socket now
            # instead of one loop iteration later through the pump task.
            sock.write(frame)
            return
        queue.append(frame)
        self._wake()

    def _wake(self, *_: object) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def close(self) -> None:
        self.abort()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._task, CLOSE_TIMEOUT_S)

    def abort(self) -> None:
        """Cancel the link's task and drop its socket without flushing (stop, re-address)."""
        self._task.cancel()
        sock = self._socket
        if sock is not None:
            sock.abort()

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            writer: asyncio.StreamWriter | None = None
            try:
                reader, opened = await asyncio.wait_for(
                    asyncio.open_connection(*self.address), CONNECT_TIMEOUT_S
                )
                writer = opened
                _set_nodelay(opened)
                await asyncio.wait_for(self._handshake(reader, opened), HANDSHAKE_TIMEOUT_S)
                self._set_connected(True)
                backoff = BACKOFF_MIN_S
                await self._pump(reader, opened)
            except asyncio.CancelledError:
                raise
            except RemoteProtocolError as error:
                log.warning("link %s->%s refused: %s", self.transport.node_id, self.peer, error)
                self.transport.metrics.dropped_frames.labels(reason="auth").inc()
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as error:
                log.debug("link %s->%s down: %r", self.transport.node_id, self.peer, error)
            finally:
                self._set_connected(False)
                if writer is not None:
                    writer.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.transport.metrics.peer_connected.labels(peer=self.peer).set(int(connected))
            log.info(
                "peer %s %s (%s:%d)",
                self.peer,
                "connected" if connected else "disconnected",
                *self.address,
            )

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        creds = self.transport.credentials
        nonce = auth.new_nonce()
        writer.write(encode_frame(auth.hello(creds, to=self.peer, nonce=nonce)))
        challenge = await _read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
        writer.write(
            encode_frame(auth.answer_challenge(creds, challenge, to=self.peer, nonce_d=nonce))
        )
        await writer.drain()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The acceptor never writes after the handshake; reading only detects EOF.
        eof = asyncio.create_task(reader.read(1))
        eof.add_done_callback(self._wake)
        loop = asyncio.get_running_loop()
        sock = writer.transport
        self._socket = sock
        try:
            while not eof.done():
                if not self.queue:
                    self._waiter = loop.create_future()
                    await self._waiter
                    continue
                batch = list(self.queue)
                self.queue.clear()
                sock.writelines(batch)
                # Wait only when the kernel stopped taking bytes: a blackholed link
                # fills the buffer, the drain times out, and the link is redialed.
                if sock.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
                    await asyncio.wait_for(writer.drain(), DRAIN_TIMEOUT_S)
        finally:
            self._socket = None
            eof.cancel()


class _InboundConnection(asyncio.Protocol):
    """One accepted connection: the acceptor's handshake, then frames straight to the node.

    States: handshaking (``_decoder`` is None, ``_closed`` False), open
    (``_decoder`` set) and closed (``_closed`` True: dropped, timed out or
    aborted, so later bytes and the final ``connection_lost`` are ignored and
    nothing is counted twice).
    """

    def __init__(self, owner: PeerTransport) -> None:
        self._owner = owner
        self._socket: asyncio.Transport | None = None
        self._handshake = bytearray()
        self._challenged: tuple[str, bytes, bytes] | None = None  # dialer, nonce_d, nonce_a
        self._timer: asyncio.TimerHandle | None = None
        self._dialer = ""
        self._decoder: FrameDecoder | None = None
        self._closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP server makes stream transports (uvloop's do not subclass asyncio.Transport).
        self._socket = cast(asyncio.Transport, transport)
        self._owner._connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(
            HANDSHAKE_TIMEOUT_S, self._handshake_timed_out
        )

    def data_received(self, data: bytes) -> None:
        decoder = self._decoder
        if decoder is None:
            if self._closed:
                return
            data = self._continue_handshake(data)
            decoder = self._decoder
            if decoder is None or not data:
                return
        try:
            frames = decoder.feed(data)
        except RemoteProtocolError as error:
            self._drop(error)
            return
        owner = self._owner
        on_frame = owner.on_frame
        dialer = self._dialer
        for frame in frames:
            try:
                on_frame(dialer, frame)
            except RemoteProtocolError as error:
                log.debug("dropped frame from %s: %s", dialer, error)
                owner.metrics.dropped_frames.labels(reason="malformed").inc()
        if owner.on_frames_done is not None:
            owner.on_frames_done()
        try:
            decoder.raise_pending()
        except RemoteProtocolError as error:
            self._drop(error)

    def eof_received(self) -> bool | None:
        return None  # the dialer is done: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if not self._closed and self._decoder is None and exc is None:
            # The dialer hung up mid-handshake, typically because we failed ITS check.
            log.warning("inbound connection closed during the handshake")
            self._owner.metrics.dropped_frames.labels(reason="auth").inc()
        self._closed = True
        self._decoder = None

    def abort(self) -> None:
        """Drop the socket without counting anything (the transport is closing)."""
        self._closed = True
        self._decoder = None
        if self._socket is not None:
            self._socket.abort()

    def _continue_handshake(self, data: bytes) -> bytes:
        """Advance the handshake; return the bytes after it once the dialer is proven."""
        self._handshake += data
        try:
            while True:
                payload = take_frame_payload(
                    self._handshake, max_frame_bytes=HANDSHAKE_MAX_FRAME_BYTES
                )
                if payload is None:
                    return b""
                if self._handshake_frame(decode_payload(payload)):
                    rest = bytes(self._handshake)
                    self._handshake = bytearray()
                    return rest
        except RemoteProtocolError as error:
            log.warning("inbound connection refused (auth): %s", error)
            self._owner.metrics.dropped_frames.labels(reason="auth").inc()
            self._close()
            return b""

    def _handshake_frame(self, frame: Any) -> bool:
        """Handle the hello or the proof; True once the dialer proved the secret.

        Raises:
            RemoteProtocolError: the frame is not the expected step, or fails its check.
        """
        credentials = self._owner.credentials
        if self._challenged is None:
            nonce = auth.new_nonce()
            dialer, nonce_d, challenge = auth.accept_hello(credentials, frame, nonce=nonce)
            self._challenged = (dialer, nonce_d, nonce)
            assert self._socket is not None, "bytes arrive only on a made connection"
            self._socket.write(encode_frame(challenge))
            return False
        dialer, nonce_d, nonce_a = self._challenged
        auth.check_proof(credentials, frame, dialer=dialer, nonce_d=nonce_d, nonce_a=nonce_a)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._dialer = dialer
        self._decoder = FrameDecoder(max_frame_bytes=self._owner.max_frame_bytes)
        return True

    def _handshake_timed_out(self) -> None:
        log.debug("inbound connection did not finish the handshake in time")
        self._close()

    def _drop(self, error: RemoteProtocolError) -> None:
        reason = "oversized" if isinstance(error, FrameTooLargeError) else "malformed"
        log.warning("connection from %s dropped (%s): %s", self._dialer, reason, error)
        self._owner.metrics.dropped_frames.labels(reason=reason).inc()
        self._close()

    def _close(self) -> None:
        self._closed = True
        self._decoder = None
        if self._socket is not None:
            self._socket.close()


class PeerTransport:
    """All links of one node: a listener plus one PeerLink per peer."""

    def __init__(
        self,
        *,
        credentials: auth.Credentials,
        addresses: dict[str, tuple[str, int]],
        on_frame: FrameHandler,
        on_frames_done: Callable[[], None] | None = None,
        metrics: Metrics,
        max_frame_bytes: int,
        send_queue_max: int,
    ) -> None:
        self.credentials = credentials
        self.node_id = credentials.node_id
        self.addresses = {p: a for p, a in addresses.items() if p != self.node_id}
        self.on_frame = on_frame
        self.on_frames_done = on_frames_done  # after each read's frames: flush replies now
        self.metrics = metrics
        self.max_frame_bytes = max_frame_bytes
        self.send_queue_max = send_queue_max
        self.links: dict[str, PeerLink] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[_InboundConnection] = set()
        self._closing: set[asyncio.Task[None]] = set()  # replaced links shutting down

    async def start(self, host: str, port: int) -> int:
        """Listen for peers; return the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _InboundConnection(self), host, port)
        bound = self._server.sockets[0].getsockname()[1]
        for peer, address in self.addresses.items():
            self.links[peer] = PeerLink(self, peer, address)
        return int(bound)

    def set_address(self, peer: str, address: tuple[str, int]) -> None:
        """Learn or change a peer's address (membership changes)."""
        if peer == self.node_id or self.addresses.get(peer) == address:
            return
        self.addresses[peer] = address
        old = self.links.pop(peer, None)
        if old is not None:
            task = asyncio.create_task(old.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self.links[peer] = PeerLink(self, peer, address)

    def send(self, peer: str, frame: Any) -> bytes | None:
        """Queue ``frame`` for ``peer``; return the queued bytes (a handle for ``retract``).

        None when the peer's address is unknown or the frame is too big.
        """
        link = self.links.get(peer)
        if link is None:
            return None
        try:
            encoded = encode_frame(frame, max_frame_bytes=self.max_frame_bytes)
        except LocalProtocolError as error:
            log.warning("not sending to %s: %s", peer, error)
            self.metrics.dropped_frames.labels(reason="oversized").inc()
            return None
        link.enqueue(encoded)
        return encoded

    def retract(self, peer: str, queued: bytes) -> bool:
        """Take a frame back if it never left this node; True when it was still queued.

        A frame that was written to the socket may have reached the peer (or be
        stuck in a blackholed link), so only a still-queued frame is provably unsent.
        """
        link = self.links.get(peer)
        if link is None:
            return False
        for position, frame in enumerate(link.queue):
            if frame is queued:
                del link.queue[position]
                return True
        return False

    async def close(self) -> None:
        """Stop listening and drop every link, waiting at most about ``CLOSE_TIMEOUT_S``.

        Sockets are aborted, not drained: a stopping node owes a dead or
        blackholed peer nothing (Raft tolerates the loss), and must not hang on it.
        """
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        tasks = [link._task for link in self.links.values()] + list(self._closing)
        for link in self.links.values():
            link.abort()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if stuck:
                log.warning("%d peer connection tasks did not stop in time", len(stuck))
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)
