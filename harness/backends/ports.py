"""Port plans for local clusters: fixed (``--base-port``) or free ports chosen by the harness.

With ``base_port = B`` node k (1-based) serves HTTP on ``B + k`` and its peer
transport on ``B + 100 + k``, so ``harness cluster up --base-port 7000``
gives n1 http://127.0.0.1:7001. With ``base_port = 0`` the ports are chosen
here. Relay ports are always picked by the kernel (the relay keeps its socket).

Why not simply bind port 0 and hand the number to the node? Between the
probe closing its socket and the node binding it, the kernel may give the
same ephemeral port to anyone else: another test's probe, or the source port
of some outgoing connection (CI saw exactly that: ``address already in use``
on a node's peer port). So ports are drawn from below the kernel's ephemeral
range, where neither ``bind(0)`` nor ``connect()`` ever lands, and every port
handed out is recorded for a while in a small shared ledger (under a file
lock), so concurrent harness processes on one machine never get the same one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PEER_PORT_OFFSET = 100
LEDGER = Path(tempfile.gettempdir()) / "sinkron-ports.json"
REUSE_AFTER_S = 300.0  # a port handed out is not handed out again for this long
LOWEST_PORT = 10000


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePorts:
    http_port: int
    peer_port: int


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def candidate_range() -> range:
    """Ports below the ephemeral range (or above it if the range starts too low)."""
    low, high = ephemeral_range()
    if low - LOWEST_PORT >= 2000:
        return range(LOWEST_PORT, low)
    return range(high + 1, 65536)


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers (asyncio, aiohttp) set SO_REUSEADDR, so a port in TIME_WAIT is usable for them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def _ledger() -> Iterator[dict[int, float]]:
    with open(LEDGER, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        try:
            recent = {int(k): float(v) for k, v in json.loads(handle.read() or "{}").items()}
        except (ValueError, AttributeError):
            recent = {}
        now = time.time()
        recent = {port: at for port, at in recent.items() if now - at < REUSE_AFTER_S}
        yield recent
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({str(port): at for port, at in recent.items()}))


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct ports that are free now and not handed to anyone else lately."""
    candidates = candidate_range()
    rng = random.Random(os.getpid() ^ time.time_ns())
    with _ledger() as recent:
        ports: list[int] = []
        for _ in range(50 * count + 1000):
            if len(ports) == count:
                break
            port = rng.choice(candidates)
            if port in recent or port in ports or not _bindable(port, host):
                continue
            ports.append(port)
        if len(ports) < count:
            raise OSError(f"could not find {count} free ports in {candidates}")
        now = time.time()
        recent.update({port: now for port in ports})
        return ports


def plan_ports(
    node_ids: list[str], base_port: int, host: str = "127.0.0.1"
) -> dict[str, NodePorts]:
    """HTTP and peer ports per node: fixed offsets from ``base_port``, or free ports when it is 0."""
    if base_port:
        if base_port + PEER_PORT_OFFSET + len(node_ids) > 65535:
            raise ValueError(f"--base-port {base_port} leaves no room for {len(node_ids)} nodes")
        return {
            node_id: NodePorts(http_port=base_port + k, peer_port=base_port + PEER_PORT_OFFSET + k)
            for k, node_id in enumerate(node_ids, start=1)
        }
    ports = free_ports(2 * len(node_ids), host)
    return {
        node_id: NodePorts(http_port=ports[2 * i], peer_port=ports[2 * i + 1])
        for i, node_id in enumerate(node_ids)
    }
