"""A TCP relay per directed link, so the harness can cut n1 -> n2 without root.

Theory of operation: node i reaches node j only through the connection it
dials to the address listed for j in its own SINKRON_PEERS. The local
backend points that address at a ``Relay`` for link (i, j), which forwards
bytes to j's real peer port. Cutting the link is then a flag on one relay.

Rule 1 (DROP, not REJECT): a blackholed relay never closes anything and
never refuses anything. Existing connections stay open but carry no bytes
in either direction, and new connections are accepted and then hang, as
with ``iptables -j DROP``: the nodes see silence, not errors, and have to
find out by their own timeouts.

Rule 2 (lost, not late): bytes that arrive while the link is blackholed are
discarded, never delivered after the heal. Discarding part of a byte stream
would hand the receiver a torn frame, so on heal every connection that lost
bytes (or was opened, or half-closed, during the blackhole) is reset. Nodes
reconnect as they would after a real long partition; connections that were
idle during the cut just carry on.

Rule 3 (cheap): the relay runs on the harness's event loop with protocol
callbacks, one write per received chunk, TCP_NODELAY (asyncio's default), and
back-pressure (a slow receiver pauses reading on the other side).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

Side = Literal["down", "up"]  # "down": the dialing node's side; "up": the target node's side


@dataclass(slots=True, kw_only=True)
class RelayStats:
    """Counters of one relay, for tests and run reports."""

    connections: int = 0
    bytes_forwarded: int = 0
    bytes_dropped: int = 0
    connections_reset: int = 0


class _Half(asyncio.Protocol):
    """One socket of a relayed connection; hands everything to its ``_Connection``."""

    def __init__(self, connection: _Connection, side: Side) -> None:
        self.connection = connection
        self.side = side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.connection.attach(self.side, transport)

    def data_received(self, data: bytes) -> None:
        self.connection.receive(self.side, data)

    def eof_received(self) -> bool:
        self.connection.lost(self.side)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.lost(self.side)

    def pause_writing(self) -> None:
        self.connection.pause_reading(other_than=self.side)

    def resume_writing(self) -> None:
        self.connection.resume_reading(other_than=self.side)


class _Connection:
    """A relayed TCP connection: the accepted socket ("down") and the dialed one ("up")."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.transports: dict[Side, asyncio.Transport] = {}
        self.pending: list[bytes] = []  # from "down" while "up" is still connecting
        # Opened during a blackhole: the SYN "was dropped", so it is reset on heal.
        self.tainted = relay.blackholed
        self.closed = False

    def attach(self, side: Side, transport: asyncio.Transport) -> None:
        if self.closed:
            transport.abort()
            return
        self.transports[side] = transport
        if side == "down":
            self.relay.stats.connections += 1
            if not self.relay.blackholed:
                self.relay.dial(self)
        elif self.pending:
            data, self.pending = b"".join(self.pending), []
            self._forward("up", data)

    def receive(self, side: Side, data: bytes) -> None:
        if self.relay.blackholed or self.tainted:
            self.tainted = True
            self.relay.stats.bytes_dropped += len(data)
            return
        target: Side = "up" if side == "down" else "down"
        if target not in self.transports:
            self.pending.append(data)
            return
        self._forward(target, data)

    def _forward(self, target: Side, data: bytes) -> None:
        self.relay.stats.bytes_forwarded += len(data)
        self.transports[target].write(data)

    def lost(self, side: Side) -> None:
        if self.closed:
            return
        if self.relay.blackholed:
            # A FIN would not cross a DROP either; the other side learns on heal.
            self.tainted = True
            self.transports.pop(side, None)
            return
        self.close(reset=False)

    def dial_failed(self) -> None:
        # The target is down: the dialer sees its connection end, as with a refused SYN.
        self.close(reset=True)

    def close(self, *, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay.connections.discard(self)
        for transport in self.transports.values():
            if reset:
                transport.abort()
            else:
                transport.close()
        self.transports.clear()

    def pause_reading(self, *, other_than: Side) -> None:
        for side, transport in self.transports.items():
            if side != other_than and transport.is_reading():
                transport.pause_reading()

    def resume_reading(self, *, other_than: Side) -> None:
        for side, transport in self.transports.items():
            if side != other_than and not transport.is_closing() and not transport.is_reading():
                transport.resume_reading()


class Relay:
    """Forwards connections on ``listen_host:listen_port`` to ``target_host:target_port``.

    Args:
        name: a label for errors and logs, e.g. ``"n1->n2"``.
        target_host, target_port: the real peer address of the link's target.
        listen_host, listen_port: where the dialing node connects (0 = any free port).
    """

    def __init__(
        self,
        *,
        name: str,
        target_host: str,
        target_port: int,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        self.name = name
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.blackholed = False
        self.stats = RelayStats()
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._dials: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening; return the port the dialing node must connect to."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._accept, self.listen_host, self.listen_port, reuse_address=True
        )
        self.listen_port = int(self._server.sockets[0].getsockname()[1])
        return self.listen_port

    def _accept(self) -> _Half:
        connection = _Connection(self)
        self.connections.add(connection)
        return _Half(connection, "down")

    def dial(self, connection: _Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._dial(connection))
        self._dials.add(task)
        task.add_done_callback(self._dials.discard)

    async def _dial(self, connection: _Connection) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(
                lambda: _Half(connection, "up"), self.target_host, self.target_port
            )
        except OSError:
            connection.dial_failed()

    def blackhole(self) -> None:
        """Stop carrying bytes (Rule 1); idempotent."""
        self.blackholed = True

    def heal(self) -> None:
        """Carry bytes again; reset connections that lost bytes meanwhile (Rule 2); idempotent."""
        if not self.blackholed:
            return
        self.blackholed = False
        for connection in list(self.connections):
            if connection.tainted:
                self.stats.connections_reset += 1
                connection.close(reset=True)

    async def close(self) -> None:
        """Stop listening and reset every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.connections):
            connection.close(reset=True)
        for task in list(self._dials):
            task.cancel()
        for task in list(self._dials):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __repr__(self) -> str:
        state = "blackholed" if self.blackholed else "open"
        return f"Relay({self.name} :{self.listen_port} -> :{self.target_port}, {state})"


class RelayNetwork:
    """Every directed link of a local cluster as a ``Relay`` (the backend's default network).

    Node i's SINKRON_PEERS lists, for each j != i, the listening port of
    relay (i, j); its own entry is its real peer port.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.relays: dict[tuple[str, str], Relay] = {}

    async def setup(self, peer_ports: dict[str, int]) -> None:
        """Start one relay per ordered pair of distinct nodes."""
        for source in peer_ports:
            for target, port in peer_ports.items():
                if source == target or (source, target) in self.relays:
                    continue
                relay = Relay(name=f"{source}->{target}", target_host=self.host, target_port=port)
                await relay.start()
                self.relays[(source, target)] = relay

    def node_host(self, node: str) -> str:
        return self.host

    def command_prefix(self, node: str) -> list[str]:
        return []

    def peer_address(self, source: str, target: str, peer_ports: dict[str, int]) -> tuple[str, int]:
        if source == target:
            return self.host, peer_ports[target]
        return self.host, self.relays[(source, target)].listen_port

    async def partition(self, links: set[tuple[str, str]]) -> None:
        for link, relay in self.relays.items():
            if link in links:
                relay.blackhole()
        await self.heal(keep=links)

    async def heal(self, keep: set[tuple[str, str]] | None = None) -> None:
        for link, relay in self.relays.items():
            if not keep or link not in keep:
                relay.heal()

    async def close(self) -> None:
        for relay in self.relays.values():
            await relay.close()
        self.relays.clear()
