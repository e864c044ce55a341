"""Peer transport: authenticated directed links that survive hostile input."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from impl.runtime import auth
from impl.runtime.framing import encode_frame
from impl.runtime.metrics import Metrics
from impl.runtime.transport import PeerTransport


def _transport(
    node: str, secret: bytes, addresses: dict[str, tuple[str, int]], inbox: list
) -> PeerTransport:
    return PeerTransport(
        credentials=auth.Credentials(cluster_id="c", node_id=node, secret=secret),
        addresses=addresses,
        on_frame=lambda sender, frame: inbox.append((sender, frame)),
        metrics=Metrics(),
        max_frame_bytes=4096,
        send_queue_max=8,
    )


def _dropped(transport: PeerTransport, reason: str) -> float:
    value = transport.metrics.registry.get_sample_value(
        "sinkron_dropped_frames_total", {"reason": reason}
    )
    return value or 0.0


async def _eventually(condition: Any, timeout_s: float = 3.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def _raw_authenticated(port: int, creds: auth.Credentials) -> asyncio.StreamWriter:
    """A hand-driven dialer: handshake, then the caller writes whatever bytes it likes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    nonce = auth.new_nonce()
    writer.write(encode_frame(auth.hello(creds, to="n2", nonce=nonce)))
    header = await reader.readexactly(4)
    body = await reader.readexactly(struct.unpack(">I", header)[0])
    from impl.runtime.framing import FrameDecoder

    (challenge,) = FrameDecoder().feed(header + body)
    writer.write(encode_frame(auth.answer_challenge(creds, challenge, to="n2", nonce_d=nonce)))
    await writer.drain()
    return writer


def test_frames_flow_over_the_dialed_link_in_order() -> None:
    """n1's frames to n2 arrive at n2, in order, attributed to n1."""

    async def scenario() -> list:
        inbox: list = []
        n2 = _transport("n2", b"s", {}, inbox)
        port = await n2.start("127.0.0.1", 0)
        n1 = _transport("n1", b"s", {"n2": ("127.0.0.1", port)}, [])
        await n1.start("127.0.0.1", 0)
        for i in range(5):
            n1.send("n2", ["x", i])
        await _eventually(lambda: len(inbox) == 5)
        await n1.close()
        await n2.close()
        return inbox

    assert asyncio.run(scenario()) == [("n1", ["x", i]) for i in range(5)]


def test_dialer_with_wrong_secret_is_refused_and_counted() -> None:
    """A node without the secret delivers nothing and the acceptor counts an auth drop."""

    async def scenario() -> tuple[list, float]:
        inbox: list = []
        n2 = _transport("n2", b"right", {}, inbox)
        port = await n2.start("127.0.0.1", 0)
        n1 = _transport("n1", b"wrong", {"n2": ("127.0.0.1", port)}, [])
        await n1.start("127.0.0.1", 0)
        n1.send("n2", ["x", 1])
        await _eventually(lambda: _dropped(n2, "auth") >= 1)
        await asyncio.sleep(0.1)
        await n1.close()
        await n2.close()
        return inbox, _dropped(n2, "auth")

    inbox, dropped = asyncio.run(scenario())
    assert inbox == []
    assert dropped >= 1


def test_garbage_oversized_and_malformed_input_never_stops_the_listener() -> None:
    """Junk connections are dropped and counted; a proper peer is served afterwards."""

    async def scenario() -> tuple[list, PeerTransport]:
        inbox: list = []

        def on_frame(sender: str, frame: Any) -> None:
            if frame == "bad":
                from impl.errors import RemoteProtocolError

                raise RemoteProtocolError("the node rejects this frame")
            inbox.append((sender, frame))

        n2 = _transport("n2", b"s", {}, inbox)
        n2.on_frame = on_frame
        port = await n2.start("127.0.0.1", 0)
        _, junk = await asyncio.open_connection("127.0.0.1", port)
        junk.write(b"\x00\x00\x00\x05hello world garbage")
        await junk.drain()
        creds = auth.Credentials(cluster_id="c", node_id="n1", secret=b"s")
        big = await _raw_authenticated(port, creds)
        big.write(struct.pack(">I", 1 << 30))
        await big.drain()
        bad = await _raw_authenticated(port, creds)
        bad.write(encode_frame("bad") + b"\x00\x00\x00\x02\xc1\xc1")
        await bad.drain()
        await _eventually(
            lambda: (
                _dropped(n2, "oversized") >= 1
                and _dropped(n2, "malformed") >= 2
                and _dropped(n2, "auth") >= 1
            )
        )
        n1 = _transport("n1", b"s", {"n2": ("127.0.0.1", port)}, [])
        await n1.start("127.0.0.1", 0)
        n1.send("n2", ["ok"])
        await _eventually(lambda: inbox == [("n1", ["ok"])])
        for writer in (junk, big, bad):
            writer.close()
        await n1.close()
        await n2.close()
        return inbox, n2

    inbox, n2 = asyncio.run(scenario())
    assert inbox == [("n1", ["ok"])]
    assert _dropped(n2, "auth") >= 1
    assert _dropped(n2, "oversized") >= 1
    assert _dropped(n2, "malformed") >= 2


def test_send_queue_drops_oldest_when_peer_is_unreachable() -> None:
    """A dead peer cannot make the queue grow without bound: the oldest frames go first."""

    async def scenario() -> tuple[list, float]:
        n1 = _transport("n1", b"s", {"n2": ("127.0.0.1", 9)}, [])  # port 9: nobody listens
        await n1.start("127.0.0.1", 0)
        for i in range(20):
            n1.send("n2", ["x", i])
        queued = list(n1.links["n2"].queue)
        dropped = _dropped(n1, "queue-full")
        await n1.close()
        return queued, dropped

    queued, dropped = asyncio.run(scenario())
    assert queued == [encode_frame(["x", i]) for i in range(12, 20)]
    assert dropped == 12


def test_only_a_frame_that_never_left_can_be_retracted() -> None:
    """retract() succeeds for a frame still queued (link down) and fails once it was written."""

    async def scenario() -> tuple[bool, bool]:
        inbox: list = []
        n2 = _transport("n2", b"s", {}, inbox)
        port = await n2.start("127.0.0.1", 0)
        dead = _transport("n1", b"s", {"n2": ("127.0.0.1", 9)}, [])
        await dead.start("127.0.0.1", 0)
        queued = dead.send("n2", ["fwd", 1])
        assert queued is not None
        unsent = dead.retract("n2", queued)
        await dead.close()
        live = _transport("n1", b"s", {"n2": ("127.0.0.1", port)}, [])
        await live.start("127.0.0.1", 0)
        sent = live.send("n2", ["fwd", 2])
        assert sent is not None
        await _eventually(lambda: len(inbox) == 1)
        written = live.retract("n2", sent)
        await live.close()
        await n2.close()
        return unsent, written

    assert asyncio.run(scenario()) == (True, False)
