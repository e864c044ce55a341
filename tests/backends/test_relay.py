"""The link relay behaves like an iptables DROP on one directed link, and heals cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from harness.backends.relay import Relay


class EchoTarget:
    """A peer-port stand-in: records every byte it receives and echoes it back."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
        writer.close()

    async def start(self) -> EchoTarget:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def started_relay(target: EchoTarget, name: str = "n1->n2") -> Relay:
    relay = Relay(name=name, target_host="127.0.0.1", target_port=target.port)
    await relay.start()
    return relay


async def connect(relay: Relay) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", relay.listen_port)


async def roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> bytes:
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout=2)


async def silent_for(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when nothing at all (no bytes, no EOF, no reset) arrives within ``seconds``."""
    try:
        await asyncio.wait_for(reader.read(1), timeout=seconds)
    except TimeoutError:
        return True
    return False


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=20))


def test_open_relay_forwards_both_directions() -> None:
    """An open link carries the dialer's bytes to the target and the replies back."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        reader, writer = await connect(relay)
        assert await roundtrip(reader, writer, b"hello") == b"hello"
        assert relay.stats.bytes_forwarded == 10
        writer.close()
        await relay.close()
        await target.stop()

    run(scenario)


def test_blackhole_hangs_an_open_connection_without_closing_it() -> None:
    """DROP semantics: after the cut the connection stays open and carries nothing."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        reader, writer = await connect(relay)
        await roundtrip(reader, writer, b"a")
        relay.blackhole()
        writer.write(b"lost")
        await writer.drain()
        assert await silent_for(reader, 0.3)
        assert not writer.is_closing() and not reader.at_eof()
        assert bytes(target.received) == b"a"
        assert relay.stats.bytes_dropped == 4
        writer.close()
        await relay.close()
        await target.stop()

    run(scenario)


def test_new_connection_during_blackhole_is_accepted_but_silent() -> None:
    """A connection opened across a cut hangs (accept-and-hang models an unanswered SYN)."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        relay.blackhole()
        reader, writer = await connect(relay)
        writer.write(b"syn?")
        await writer.drain()
        assert await silent_for(reader, 0.3)
        assert target.received == b""
        writer.close()
        await relay.close()
        await target.stop()

    run(scenario)


def test_bytes_sent_during_blackhole_are_dropped_not_delivered_after_heal() -> None:
    """Healing never delivers queued bytes late: the torn connection is reset instead."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        reader, writer = await connect(relay)
        await roundtrip(reader, writer, b"before")
        relay.blackhole()
        writer.write(b"during")
        await writer.drain()
        await asyncio.sleep(0.1)
        relay.heal()
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(100), timeout=2) == b""
        await asyncio.sleep(0.1)
        assert bytes(target.received) == b"before"
        assert relay.stats.connections_reset == 1
        fresh_reader, fresh_writer = await connect(relay)
        assert await roundtrip(fresh_reader, fresh_writer, b"after") == b"after"
        assert b"during" not in target.received
        fresh_writer.close()
        await relay.close()
        await target.stop()

    run(scenario)


def test_idle_connection_survives_a_blackhole_and_resumes_after_heal() -> None:
    """A connection that lost nothing during the cut carries on after the heal."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        reader, writer = await connect(relay)
        await roundtrip(reader, writer, b"x")
        relay.blackhole()
        await asyncio.sleep(0.05)
        relay.heal()
        assert await roundtrip(reader, writer, b"y") == b"y"
        assert relay.stats.connections_reset == 0
        writer.close()
        await relay.close()
        await target.stop()

    run(scenario)


def test_directed_links_are_independent() -> None:
    """Cutting n1->n2 leaves n2->n1 (a different relay and connection) working."""

    async def scenario() -> None:
        at_n2 = await EchoTarget().start()
        at_n1 = await EchoTarget().start()
        n1_to_n2 = await started_relay(at_n2, "n1->n2")
        n2_to_n1 = await started_relay(at_n1, "n2->n1")
        r12, w12 = await connect(n1_to_n2)
        r21, w21 = await connect(n2_to_n1)
        n1_to_n2.blackhole()
        w12.write(b"ping")
        await w12.drain()
        assert await roundtrip(r21, w21, b"pong") == b"pong"
        assert await silent_for(r12, 0.2)
        assert at_n2.received == b""
        for writer in (w12, w21):
            writer.close()
        for relay in (n1_to_n2, n2_to_n1):
            await relay.close()
        await at_n1.stop()
        await at_n2.stop()

    run(scenario)


def test_unreachable_target_ends_the_dialers_connection() -> None:
    """With the target down (and the link open) the dialer sees its connection end."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        await target.stop()
        await asyncio.sleep(0.05)
        reader, writer = await connect(relay)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), timeout=2)
        writer.close()
        await relay.close()

    run(scenario)


def test_open_relay_carries_a_large_stream_intact_in_order() -> None:
    """Back-pressure never reorders or loses bytes: 4 MiB go through and come back unchanged."""

    async def scenario() -> None:
        target = await EchoTarget().start()
        relay = await started_relay(target)
        reader, writer = await connect(relay)
        payload = bytes(range(256)) * (4 * 4096)

        async def send() -> None:
            for offset in range(0, len(payload), 65536):
                writer.write(payload[offset : offset + 65536])
                await writer.drain()

        sending = asyncio.create_task(send())
        echoed = await asyncio.wait_for(reader.readexactly(len(payload)), timeout=15)
        await sending
        assert echoed == payload
        assert relay.stats.bytes_dropped == 0
        writer.close()
        await relay.close()
        await target.stop()

    run(scenario)
