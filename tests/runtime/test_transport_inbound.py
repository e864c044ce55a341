"""Inbound peer connections: the acceptor's handshake and frames delivered from the read callback.

Every scenario runs on both event loops a node may use (the stdlib loop and
uvloop), because the inbound side is a protocol driven by the loop's transport
callbacks, and the two loops' transports differ in their details.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from impl.runtime import auth, transport
from impl.runtime.framing import FrameDecoder, encode_frame
from impl.runtime.metrics import Metrics
from impl.runtime.transport import PeerTransport

CREDENTIALS = auth.Credentials(cluster_id="c", node_id="n1", secret=b"s")


def _loop_factories() -> list[Any]:
    factories: list[Any] = [pytest.param(None, id="asyncio")]
    try:
        import uvloop
    except ImportError:
        return factories
    return [*factories, pytest.param(uvloop.new_event_loop, id="uvloop")]


@pytest.fixture(params=_loop_factories())
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a scenario on one of the event loops a node may use."""

    def runner(scenario: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=request.param) as loop_runner:
            return loop_runner.run(scenario)

    return runner


class Acceptor:
    """n2's transport with a recording ``on_frame`` and ``on_frames_done``."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.transport = PeerTransport(
            credentials=auth.Credentials(cluster_id="c", node_id="n2", secret=b"s"),
            addresses={},
            on_frame=lambda sender, frame: self.events.append((sender, frame)),
            on_frames_done=lambda: self.events.append("done"),
            metrics=Metrics(),
            max_frame_bytes=4096,
            send_queue_max=8,
        )

    @property
    def frames(self) -> list[Any]:
        return [event for event in self.events if event != "done"]

    def dropped(self, reason: str) -> float:
        value = self.transport.metrics.registry.get_sample_value(
            "sinkron_dropped_frames_total", {"reason": reason}
        )
        return value or 0.0


async def _eventually(condition: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def _handshake(
    port: int, *, after_proof: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Dial by hand and prove the secret; ``after_proof`` goes out in the proof's write."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    nonce = auth.new_nonce()
    writer.write(encode_frame(auth.hello(CREDENTIALS, to="n2", nonce=nonce)))
    header = await reader.readexactly(4)
    body = await reader.readexactly(struct.unpack(">I", header)[0])
    (challenge,) = FrameDecoder().feed(header + body)
    proof = auth.answer_challenge(CREDENTIALS, challenge, to="n2", nonce_d=nonce)
    writer.write(encode_frame(proof) + after_proof)
    await writer.drain()
    return reader, writer


async def _closed_by_peer(reader: asyncio.StreamReader, timeout_s: float = 3.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout_s) == b""
    except ConnectionError:
        return True


def test_frames_written_with_the_proof_are_delivered_in_order(run: Any) -> None:
    """Bytes that follow the proof in the same read are frames, and none is lost."""

    async def scenario() -> list[Any]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        after = encode_frame(["x", 1]) + encode_frame(["x", 2]) + encode_frame(["x", 3])[:5]
        _, writer = await _handshake(port, after_proof=after)
        writer.write(encode_frame(["x", 3])[5:])
        await _eventually(lambda: len(acceptor.frames) == 3)
        writer.close()
        await acceptor.transport.close()
        return acceptor.frames

    assert run(scenario()) == [("n1", ["x", 1]), ("n1", ["x", 2]), ("n1", ["x", 3])]


class _RecordingSocket:
    """The slice of a loop transport the inbound protocol uses, recording what it does."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def test_each_read_gives_its_frames_then_exactly_one_frames_done(run: Any) -> None:
    """on_frames_done comes once per read, after that read's frames, so replies leave per read."""

    async def scenario() -> tuple[list[Any], bool]:
        acceptor = Acceptor()
        connection = transport._InboundConnection(acceptor.transport)
        socket = _RecordingSocket()
        connection.connection_made(socket)  # type: ignore[arg-type]
        nonce = auth.new_nonce()
        connection.data_received(encode_frame(auth.hello(CREDENTIALS, to="n2", nonce=nonce)))
        (challenge,) = FrameDecoder().feed(bytes(socket.written))
        proof = auth.answer_challenge(CREDENTIALS, challenge, to="n2", nonce_d=nonce)
        two = encode_frame(["x", 1]) + encode_frame(["x", 2])
        connection.data_received(encode_frame(proof) + two + encode_frame(["x", 3])[:2])
        connection.data_received(encode_frame(["x", 3])[2:])
        connection.data_received(two)
        connection.connection_lost(None)
        return acceptor.events, socket.closed

    events, closed = run(scenario())
    first, second = ("n1", ["x", 1]), ("n1", ["x", 2])
    assert events == [first, second, "done", ("n1", ["x", 3]), "done", first, second, "done"]
    assert not closed


def test_good_frames_before_garbage_in_one_read_arrive_then_the_link_is_dropped(
    run: Any,
) -> None:
    """A read with frames then garbage delivers the frames, then closes and counts malformed."""

    async def scenario() -> tuple[list[Any], float, bool]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        reader, writer = await _handshake(port)
        writer.write(encode_frame(["ok"]) + b"\x00\x00\x00\x02\xc1\xc1" + encode_frame(["late"]))
        closed = await _closed_by_peer(reader)
        writer.close()
        await acceptor.transport.close()
        return acceptor.frames, acceptor.dropped("malformed"), closed

    frames, malformed, closed = run(scenario())
    assert frames == [("n1", ["ok"])]
    assert malformed == 1
    assert closed


def test_oversized_frame_after_the_handshake_drops_the_link(run: Any) -> None:
    """A header announcing more than max_frame_bytes closes the link, counted as oversized."""

    async def scenario() -> tuple[float, bool]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        reader, writer = await _handshake(port, after_proof=struct.pack(">I", 4097))
        closed = await _closed_by_peer(reader)
        writer.close()
        await acceptor.transport.close()
        return acceptor.dropped("oversized"), closed

    assert run(scenario()) == (1.0, True)


def test_oversized_or_garbled_handshake_frames_are_auth_drops(run: Any) -> None:
    """Before the dialer proved the secret, any bad frame is an auth failure and closes."""

    async def scenario() -> float:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        for junk in (struct.pack(">I", 5000), b"\x00\x00\x00\x01\xc1", encode_frame(["hi"])):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            assert await _closed_by_peer(reader)
            writer.close()
        await acceptor.transport.close()
        return acceptor.dropped("auth")

    assert run(scenario()) == 3.0


def test_dialer_hanging_up_mid_handshake_is_counted_as_auth(run: Any) -> None:
    """A dialer that leaves after its hello (it failed OUR proof) shows up as an auth drop."""

    async def scenario() -> tuple[float, list[Any]]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(encode_frame(auth.hello(CREDENTIALS, to="n2", nonce=auth.new_nonce())))
        await reader.readexactly(4)
        writer.close()
        await _eventually(lambda: acceptor.dropped("auth") >= 1)
        await acceptor.transport.close()
        return acceptor.dropped("auth"), acceptor.events

    assert run(scenario()) == (1.0, [])


def test_silent_connection_is_closed_at_the_handshake_timeout_uncounted(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that never says hello is closed after HANDSHAKE_TIMEOUT_S, not counted."""
    monkeypatch.setattr(transport, "HANDSHAKE_TIMEOUT_S", 0.1)

    async def scenario() -> tuple[bool, float]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        closed = await _closed_by_peer(reader, timeout_s=2.0)
        writer.close()
        await acceptor.transport.close()
        return closed, acceptor.dropped("auth")

    assert run(scenario()) == (True, 0.0)


def test_close_drops_inbound_connections_promptly_and_counts_nothing(run: Any) -> None:
    """close() aborts open and half-open inbound connections at once, without auth drops."""

    async def scenario() -> tuple[float, bool, bool, float]:
        acceptor = Acceptor()
        port = await acceptor.transport.start("127.0.0.1", 0)
        open_reader, open_writer = await _handshake(port)
        half_reader, half_writer = await asyncio.open_connection("127.0.0.1", port)
        await _eventually(lambda: len(acceptor.transport._connections) == 2)
        started = time.monotonic()
        await acceptor.transport.close()
        took = time.monotonic() - started
        closed = await _closed_by_peer(open_reader), await _closed_by_peer(half_reader)
        open_writer.close()
        half_writer.close()
        return took, *closed, acceptor.dropped("auth")

    took, open_closed, half_closed, auth_drops = run(scenario())
    assert took < transport.CLOSE_TIMEOUT_S
    assert open_closed and half_closed
    assert auth_drops == 0.0


def test_two_transports_exchange_frames_both_ways_over_their_own_links(run: Any) -> None:
    """Each node's frames reach the other over the link it dialed, on either event loop."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        inbox1: list[Any] = []
        inbox2: list[Any] = []

        def make(node: str, inbox: list[Any]) -> PeerTransport:
            return PeerTransport(
                credentials=auth.Credentials(cluster_id="c", node_id=node, secret=b"s"),
                addresses={},
                on_frame=lambda sender, frame: inbox.append((sender, frame)),
                metrics=Metrics(),
                max_frame_bytes=4096,
                send_queue_max=8,
            )

        n1, n2 = make("n1", inbox1), make("n2", inbox2)
        port1 = await n1.start("127.0.0.1", 0)
        port2 = await n2.start("127.0.0.1", 0)
        n1.set_address("n2", ("127.0.0.1", port2))
        n2.set_address("n1", ("127.0.0.1", port1))
        for i in range(3):
            n1.send("n2", ["to-n2", i])
            n2.send("n1", ["to-n1", i])
        await _eventually(lambda: len(inbox1) == 3 and len(inbox2) == 3)
        await n1.close()
        await n2.close()
        return inbox1, inbox2

    inbox1, inbox2 = run(scenario())
    assert inbox1 == [("n2", ["to-n1", i]) for i in range(3)]
    assert inbox2 == [("n1", ["to-n2", i]) for i in range(3)]
