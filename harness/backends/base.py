"""The one interface every cluster backend speaks.

Theory of operation: workloads and nemeses hold a ``Backend`` and never know
whether the nodes are local processes, containers or remote hosts. Node ids
are "n1".."nN". Links are directed: ``partition({("n1", "n2")})`` stops
traffic that n1 sends to n2 (connections hang, as with an iptables DROP)
while n2 -> n1 may still flow; a symmetric cut lists both directions.

Every method is async and idempotent where that makes sense (healing a healed
network is fine). ``close`` removes everything the backend created (processes,
containers, networks, relays) and is safe to call after a failure or Ctrl-C.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from impl.errors import SinkronError

Link = tuple[str, str]  # (from_node, to_node)


class BackendError(SinkronError, RuntimeError):
    """The backend could not do what was asked (a node would not start, a hook failed)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    nodes: int = 3
    run_dir: Path = Path("results/scratch")  # data and logs live under here
    cluster_secret: str = "sinkron-test-secret"
    cluster_id: str = "sinkron-test"
    test_hooks: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    base_port: int = 0  # 0 = pick free ports


class Backend(abc.ABC):
    """Start, stop and break a cluster of Sinkron nodes."""

    @property
    @abc.abstractmethod
    def node_ids(self) -> list[str]: ...

    @abc.abstractmethod
    def client_url(self, node: str) -> str:
        """The node's HTTP base URL as reachable from the harness, e.g. http://127.0.0.1:7001."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Create and start every node; return once each answers /health."""

    @abc.abstractmethod
    async def start_node(self, node: str) -> None:
        """(Re)start one node on its existing data."""

    @abc.abstractmethod
    async def stop_node(self, node: str) -> None:
        """SIGTERM: a clean stop."""

    @abc.abstractmethod
    async def kill_node(self, node: str) -> None:
        """SIGKILL: a crash; only what was fsynced survives."""

    @abc.abstractmethod
    async def pause_node(self, node: str) -> None:
        """SIGSTOP (or docker pause): the process is frozen, its sockets stay open."""

    @abc.abstractmethod
    async def resume_node(self, node: str) -> None: ...

    @abc.abstractmethod
    async def partition(self, links: set[Link]) -> None:
        """Blackhole exactly these directed links (replacing any earlier partition)."""

    @abc.abstractmethod
    async def heal(self) -> None:
        """Restore every link."""

    @abc.abstractmethod
    async def set_clock_offset(self, node: str, offset_ms: int) -> None:
        """Skew the node's clock (through its test hook)."""

    @abc.abstractmethod
    async def collect_logs(self, dest: Path) -> None:
        """Copy every node's log into ``dest`` as <node>.log."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop everything and remove what the backend created; safe after failures."""
