"""Port plans for local clusters: fixed (``--base-port``) or free ports picked by the kernel.

With ``base_port = B`` node k (1-based) serves HTTP on ``B + k`` and its peer
transport on ``B + 100 + k``, so ``harness cluster up --base-port 7000``
gives n1 http://127.0.0.1:7001. With ``base_port = 0`` every port is picked
by binding port 0; several helpers share one machine, so nothing is ever
hard-coded. Relay ports are always picked by the kernel.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

PEER_PORT_OFFSET = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePorts:
    http_port: int
    peer_port: int


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct ports that were free a moment ago (all held open at once)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
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
