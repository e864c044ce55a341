"""Outbound peer links: reconnection, re-addressing and blackhole detection, on both event loops."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from impl.runtime import auth, transport
from impl.runtime.framing import decode_payload, encode_frame
from impl.runtime.metrics import Metrics
from impl.runtime.transport import PeerTransport


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


def _transport(
    node: str, addresses: dict[str, tuple[str, int]], inbox: list[Any], **limits: int
) -> PeerTransport:
    return PeerTransport(
        credentials=auth.Credentials(cluster_id="c", node_id=node, secret=b"s"),
        addresses=addresses,
        on_frame=lambda sender, frame: inbox.append((sender, frame)),
        metrics=Metrics(),
        max_frame_bytes=limits.get("max_frame_bytes", 4096),
        send_queue_max=limits.get("send_queue_max", 8),
    )


async def _eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def test_link_redials_after_the_peer_restarts_and_delivers_what_was_queued(run: Any) -> None:
    """A frame sent while the peer is down waits in the queue and arrives after the redial."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        before: list[Any] = []
        after: list[Any] = []
        n2 = _transport("n2", {}, before)
        port = await n2.start("127.0.0.1", 0)
        n1 = _transport("n1", {"n2": ("127.0.0.1", port)}, [])
        await n1.start("127.0.0.1", 0)
        n1.send("n2", ["x", 1])
        assert await _eventually(lambda: len(before) == 1)
        await n2.close()
        assert await _eventually(lambda: not n1.links["n2"].connected)
        n1.send("n2", ["x", 2])
        restarted = _transport("n2", {}, after)
        await restarted.start("127.0.0.1", port)
        await _eventually(lambda: len(after) == 1)
        await n1.close()
        await restarted.close()
        return before, after

    assert run(scenario()) == ([("n1", ["x", 1])], [("n1", ["x", 2])])


def test_set_address_moves_the_link_to_the_new_address(run: Any) -> None:
    """After set_address, frames go to the peer's new address and no longer to the old one."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        old_inbox: list[Any] = []
        new_inbox: list[Any] = []
        old = _transport("n2", {}, old_inbox)
        new = _transport("n2", {}, new_inbox)
        old_port = await old.start("127.0.0.1", 0)
        new_port = await new.start("127.0.0.1", 0)
        n1 = _transport("n1", {"n2": ("127.0.0.1", old_port)}, [])
        await n1.start("127.0.0.1", 0)
        n1.send("n2", ["x", 1])
        await _eventually(lambda: len(old_inbox) == 1)
        n1.set_address("n2", ("127.0.0.1", new_port))
        n1.send("n2", ["x", 2])
        await _eventually(lambda: len(new_inbox) == 1)
        await asyncio.sleep(0.05)
        for node in (n1, old, new):
            await node.close()
        return old_inbox, new_inbox

    assert run(scenario()) == ([("n1", ["x", 1])], [("n1", ["x", 2])])


class _StallingAcceptor:
    """Proves the secret like a peer, then never reads again: a blackhole after the handshake."""

    def __init__(self) -> None:
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.credentials = auth.Credentials(cluster_id="c", node_id="n2", secret=b"s")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        hello = decode_payload(await reader.readexactly(await self._length(reader)))
        nonce = auth.new_nonce()
        dialer, nonce_d, challenge = auth.accept_hello(self.credentials, hello, nonce=nonce)
        writer.write(encode_frame(challenge))
        proof = decode_payload(await reader.readexactly(await self._length(reader)))
        auth.check_proof(self.credentials, proof, dialer=dialer, nonce_d=nonce_d, nonce_a=nonce)
        self.connections += 1
        writer.transport.pause_reading()  # type: ignore[attr-defined]

    @staticmethod
    async def _length(reader: asyncio.StreamReader) -> int:
        return int(struct.unpack(">I", await reader.readexactly(4))[0])


def test_link_whose_bytes_stop_draining_is_redialed(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unsent bytes above DRAIN_ABOVE_BYTES that do not drain in DRAIN_TIMEOUT_S mean a redial."""
    monkeypatch.setattr(transport, "DRAIN_TIMEOUT_S", 0.2)

    async def scenario() -> int:
        stalling = _StallingAcceptor()
        server = await asyncio.start_server(stalling.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        n1 = _transport(
            "n1", {"n2": ("127.0.0.1", port)}, [], max_frame_bytes=1 << 20, send_queue_max=4
        )
        await n1.start("127.0.0.1", 0)
        chunk = b"x" * (256 * 1024)
        deadline = time.monotonic() + 20.0
        while stalling.connections < 2 and time.monotonic() < deadline:
            n1.send("n2", chunk)  # fills the kernel's buffers, then the transport's
            await asyncio.sleep(0.005)
        await n1.close()
        for writer in stalling.writers:
            writer.transport.abort()
        server.close()
        return stalling.connections

    assert run(scenario()) >= 2
