"""Authenticated TCP links between nodes, one dialed connection per directed link.

Theory of operation: node i sends to node j ONLY over the connection i
dialed to j; a connection j accepted from i carries i -> j traffic only and
j never writes to it after the handshake. So each directed link i -> j is
exactly one TCP connection, and the harness's relay (or an iptables rule) can
cut one direction without touching the other, which is what partitions need.

Each peer has a ``PeerLink``: a bounded queue of encoded frames and a task
that dials (connect timeout ~200 ms), runs the auth handshake (auth.py),
writes queued frames in batches, and on any failure reconnects with
exponential backoff capped at 1 s. When the queue is full the oldest frame is
dropped and counted: Raft tolerates message loss, and a bounded queue keeps a
partitioned peer from eating memory. When more than ``DRAIN_ABOVE_BYTES``
are waiting for the kernel and they do not drain within ``DRAIN_TIMEOUT_S``
(a blackholed link), the connection is dropped and redialed.

Inbound connections are authenticated, then read until EOF; every decoded
frame goes to ``on_frame(sender, frame)``. Garbage, oversized frames and
failed handshakes close that connection and bump ``dropped_frames``; they
never reach the node and never raise out of the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.runtime import auth
from impl.runtime.framing import HEADER, FrameDecoder, FrameTooLargeError, encode_frame
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
    decoder = FrameDecoder(max_frame_bytes=max_bytes)
    frames = decoder.feed(header + await reader.readexactly(length))
    assert len(frames) == 1, "one complete frame was fed"
    return frames[0]


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
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.StreamWriter | None = None  # set while the link is up
        self._task = asyncio.create_task(self._run(), name=f"link-{peer}")

    def enqueue(self, frame: bytes) -> None:
        if len(self.queue) >= self.transport.send_queue_max:
            self.queue.popleft()
            self.transport.metrics.dropped_frames.labels(reason="queue-full").inc()
        writer = self._writer
        if (
            writer is not None
            and not self.queue
            and not writer.transport.is_closing()
            and writer.transport.get_write_buffer_size() <= DRAIN_ABOVE_BYTES
        ):
            # Fast path: the link is up and idle, so the frame goes to the socket now
            # instead of one loop iteration later through the pump task.
            writer.write(frame)
            return
        self.queue.append(frame)
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
        writer = self._writer
        if writer is not None:
            writer.transport.abort()

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
        self._writer = writer
        try:
            while not eof.done():
                if not self.queue:
                    self._waiter = loop.create_future()
                    await self._waiter
                    continue
                batch = list(self.queue)
                self.queue.clear()
                writer.writelines(batch)
                # Wait only when the kernel stopped taking bytes: a blackholed link
                # fills the buffer, the drain times out, and the link is redialed.
                if writer.transport.get_write_buffer_size() > DRAIN_ABOVE_BYTES:
                    await asyncio.wait_for(writer.drain(), DRAIN_TIMEOUT_S)
        finally:
            self._writer = None
            eof.cancel()


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
        self._inbound: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen for peers; return the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(self._accept, host, port)
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
            self._inbound.add(task)
            task.add_done_callback(self._inbound.discard)
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inbound.add(task)
        try:
            try:
                dialer = await asyncio.wait_for(
                    self._accept_handshake(reader, writer), HANDSHAKE_TIMEOUT_S
                )
            except RemoteProtocolError as error:
                log.warning("inbound connection refused (auth): %s", error)
                self.metrics.dropped_frames.labels(reason="auth").inc()
                return
            except asyncio.IncompleteReadError:
                # The dialer hung up mid-handshake, typically because we failed ITS check.
                log.warning("inbound connection closed during the handshake")
                self.metrics.dropped_frames.labels(reason="auth").inc()
                return
            try:
                await self._receive(dialer, reader)
            except RemoteProtocolError as error:
                reason = "oversized" if isinstance(error, FrameTooLargeError) else "malformed"
                log.warning("connection from %s dropped (%s): %s", dialer, reason, error)
                self.metrics.dropped_frames.labels(reason=reason).inc()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._inbound.discard(task)

    async def _accept_handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str:
        hello = await _read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
        nonce = auth.new_nonce()
        dialer, nonce_d, challenge = auth.accept_hello(self.credentials, hello, nonce=nonce)
        writer.write(encode_frame(challenge))
        await writer.drain()
        proof = await _read_frame(reader, HANDSHAKE_MAX_FRAME_BYTES)
        auth.check_proof(self.credentials, proof, dialer=dialer, nonce_d=nonce_d, nonce_a=nonce)
        return dialer

    async def _receive(self, dialer: str, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(max_frame_bytes=self.max_frame_bytes)
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            for frame in decoder.feed(data):
                try:
                    self.on_frame(dialer, frame)
                except RemoteProtocolError as error:
                    log.debug("dropped frame from %s: %s", dialer, error)
                    self.metrics.dropped_frames.labels(reason="malformed").inc()
            if self.on_frames_done is not None:
                self.on_frames_done()
            decoder.raise_pending()

    async def close(self) -> None:
        """Stop listening and drop every link, waiting at most about ``CLOSE_TIMEOUT_S``.

        Sockets are aborted, not drained: a stopping node owes a dead or
        blackholed peer nothing (Raft tolerates the loss), and must not hang on it.
        """
        if self._server is not None:
            self._server.close()
        tasks = [link._task for link in self.links.values()] + list(self._inbound)
        for link in self.links.values():
            link.abort()
        for task in self._inbound:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
            if stuck:
                log.warning("%d peer connection tasks did not stop in time", len(stuck))
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)
