"""The local backend: node processes on this machine, links cut by relays or netns.

Theory of operation: each node is ``python -m impl.runtime`` in its own
process group (``start_new_session``), with its data directory and log under
``<run_dir>/nodes/<id>/``. Every node dials its peers through the network
object: ``RelayNetwork`` (default; a relay per directed link inside this
process) or ``NetnsNetwork`` (root only; a network namespace per node and
iptables DROP rules). The backend only launches, signals and waits; it never
looks inside a node.

Rule 1: no orphans. Signals go to the whole process group; every live group
is recorded so an ``atexit`` hook can SIGKILL it, and on Linux each node is
started with PR_SET_PDEATHSIG=SIGKILL so it dies with the harness even when
the harness itself is SIGKILLed. ``close`` is idempotent and safe after errors.

Rule 2: a node counts as started only when it answers ``/health``. If it
exits first, or does not answer within ``start_timeout_s``, ``NodeStartError``
carries the tail of its log, so the reason is on the screen, not in a file.

Rule 3: a restart reuses the node's ports, data directory and peer list, and
appends to the same log (each start writes a ``=== start`` marker line).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from harness.backends import node_http
from harness.backends.base import Backend, BackendError, ClusterSpec, Link
from harness.backends.ports import plan_ports
from harness.backends.relay import RelayNetwork

NetMode = Literal["relay", "netns"]
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_NODE_COMMAND = (sys.executable, "-m", "impl.runtime")
LOG_TAIL_LINES = 30


class NodeStartError(BackendError):
    """A node exited or never answered /health; the message ends with its log tail."""


class Network(Protocol):
    """What the local backend needs from a network: addresses, a launcher prefix, cuts."""

    async def setup(self, peer_ports: dict[str, int]) -> None: ...
    def node_host(self, node: str) -> str: ...
    def command_prefix(self, node: str) -> list[str]: ...
    def peer_address(
        self, source: str, target: str, peer_ports: dict[str, int]
    ) -> tuple[str, int]: ...
    async def partition(self, links: set[Link]) -> None: ...
    async def heal(self) -> None: ...
    async def close(self) -> None: ...


# Process groups of every node started by any LocalBackend in this process (Rule 1).
_LIVE_GROUPS: set[int] = set()


def _kill_live_groups() -> None:
    """At exit: SIGKILL the group of every node process that is still our unreaped child.

    ``waitpid(WNOHANG)`` proves the pid is still ours (a reaped pid may belong
    to someone else by now), so this never signals a stranger.
    """
    for group in list(_LIVE_GROUPS):
        try:
            reaped, _ = os.waitpid(group, os.WNOHANG)
        except ChildProcessError:
            continue
        if reaped == 0:
            for signum in (signal.SIGKILL, signal.SIGCONT):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signum)
    _LIVE_GROUPS.clear()


atexit.register(_kill_live_groups)


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGKILL it when the harness dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass(slots=True, kw_only=True)
class LocalNode:
    """One node's fixed identity (ports, directory) and its current process, if any."""

    node_id: str
    http_port: int
    peer_port: int
    directory: Path
    process: asyncio.subprocess.Process | None = None
    paused: bool = False

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "node.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process else None


class LocalBackend(Backend):
    """Processes on this machine; see the module docstring.

    Args:
        spec: cluster size, run directory, secrets, ports (``base_port`` 0 = free ports).
        net: ``"relay"`` (default, no privileges) or ``"netns"`` (root; see netns.py).
        node_command: the program to run per node (tests use a fake node).
        start_timeout_s: how long a node may take to answer /health.
        stop_grace_s: SIGTERM -> SIGKILL delay of ``stop_node`` and ``close``.
        on_node_healthy: called with the node id when it first answers /health.
        tick_ms: SINKRON_TICK_MS for every node (None = the runtime's default).
    """

    def __init__(
        self,
        spec: ClusterSpec,
        *,
        net: NetMode = "relay",
        node_command: Sequence[str] = DEFAULT_NODE_COMMAND,
        start_timeout_s: float = 30.0,
        stop_grace_s: float = 5.0,
        on_node_healthy: Callable[[str], None] | None = None,
        tick_ms: int | None = None,
    ) -> None:
        if spec.nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.spec = spec
        self.net_mode = net
        self.network = self._make_network(net)
        self.node_command = list(node_command)
        self.start_timeout_s = start_timeout_s
        self.stop_grace_s = stop_grace_s
        self.on_node_healthy = on_node_healthy
        self.tick_ms = tick_ms
        self.run_dir = Path(spec.run_dir).resolve()
        ids = [f"n{k}" for k in range(1, spec.nodes + 1)]
        ports = plan_ports(ids, spec.base_port)
        self.nodes: dict[str, LocalNode] = {
            node_id: LocalNode(
                node_id=node_id,
                http_port=ports[node_id].http_port,
                peer_port=ports[node_id].peer_port,
                directory=self.run_dir / "nodes" / node_id,
            )
            for node_id in ids
        }
        self.partitioned: set[Link] = set()
        self._network_ready = False
        self._closed = False

    @staticmethod
    def _make_network(net: NetMode) -> Network:
        if net == "relay":
            return RelayNetwork()
        if net == "netns":
            from harness.backends.netns import NetnsNetwork

            return NetnsNetwork()
        raise ValueError(f"unknown network mode {net!r}; use 'relay' or 'netns'")

    async def __aenter__(self) -> LocalBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- Backend interface -----------------------------------------------------

    @property
    def node_ids(self) -> list[str]:
        return list(self.nodes)

    def client_url(self, node: str) -> str:
        return f"http://{self.network.node_host(node)}:{self._node(node).http_port}"

    async def start(self) -> None:
        self._closed = False
        await self._ensure_network()
        try:
            await asyncio.gather(*(self.start_node(node) for node in self.nodes))
        except BaseException:
            await self.close()
            raise

    async def start_node(self, node: str) -> None:
        local = self._node(node)
        if local.running:
            return
        await self._ensure_network()
        local.directory.mkdir(parents=True, exist_ok=True)
        local.data_dir.mkdir(exist_ok=True)
        with local.log_path.open("ab") as log:
            log.write(f"=== start {node} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            log.flush()
            local.process = await asyncio.create_subprocess_exec(
                *self.network.command_prefix(node),
                *self.node_command,
                env=self._environment(local),
                cwd=local.directory,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        local.paused = False
        _LIVE_GROUPS.add(local.process.pid)
        await self._wait_healthy(local)
        if self.on_node_healthy is not None:
            self.on_node_healthy(node)

    async def stop_node(self, node: str) -> None:
        await self._stop(self._node(node), grace_s=self.stop_grace_s)

    async def kill_node(self, node: str) -> None:
        await self._stop(self._node(node), grace_s=0.0)

    async def pause_node(self, node: str) -> None:
        local = self._node(node)
        if local.running and not local.paused:
            self._signal(local, signal.SIGSTOP)
            local.paused = True

    async def resume_node(self, node: str) -> None:
        local = self._node(node)
        if local.running and local.paused:
            self._signal(local, signal.SIGCONT)
        local.paused = False

    async def partition(self, links: set[Link]) -> None:
        for source, target in links:
            self._node(source)
            self._node(target)
        self.partitioned = {link for link in links if link[0] != link[1]}
        await self.network.partition(self.partitioned)

    async def heal(self) -> None:
        self.partitioned = set()
        await self.network.heal()

    async def set_clock_offset(self, node: str, offset_ms: int) -> None:
        await node_http.set_clock_offset(node, self.client_url(node), offset_ms)

    async def collect_logs(self, dest: Path) -> None:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for node_id, local in self.nodes.items():
            if local.log_path.exists():
                shutil.copyfile(local.log_path, dest / f"{node_id}.log")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.gather(
                *(self._stop(local, grace_s=self.stop_grace_s) for local in self.nodes.values())
            )
        finally:
            await self.network.close()
            self._network_ready = False
            self.partitioned = set()

    # ---- helpers --------------------------------------------------------------------

    async def _ensure_network(self) -> None:
        if not self._network_ready:
            self._network_ready = True  # set first: start() starts nodes concurrently
            try:
                await self.network.setup(self._peer_ports())
            except BaseException:
                self._network_ready = False
                raise

    def _node(self, node: str) -> LocalNode:
        try:
            return self.nodes[node]
        except KeyError:
            raise ValueError(f"no node {node!r}; nodes are {', '.join(self.nodes)}") from None

    def _peer_ports(self) -> dict[str, int]:
        return {node_id: local.peer_port for node_id, local in self.nodes.items()}

    def _environment(self, local: LocalNode) -> dict[str, str]:
        peer_ports = self._peer_ports()
        peers = ",".join(
            "{}={}:{}".format(target, *self.network.peer_address(local.node_id, target, peer_ports))
            for target in self.nodes
        )
        host = self.network.node_host(local.node_id)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env.update(
            SINKRON_NODE_ID=local.node_id,
            SINKRON_PEERS=peers,
            SINKRON_HTTP_HOST=host,
            SINKRON_HTTP_PORT=str(local.http_port),
            SINKRON_PEER_HOST=host,
            SINKRON_PEER_PORT=str(local.peer_port),
            SINKRON_DATA_DIR=str(local.data_dir),
            SINKRON_CLUSTER_ID=self.spec.cluster_id,
            SINKRON_CLUSTER_SECRET=self.spec.cluster_secret,
            SINKRON_TEST_HOOKS="1" if self.spec.test_hooks else "0",
        )
        if self.tick_ms is not None:
            env["SINKRON_TICK_MS"] = str(self.tick_ms)
        env.update(self.spec.extra_env)
        return env

    async def _wait_healthy(self, local: LocalNode) -> None:
        process = local.process
        assert process is not None

        async def exited() -> bool:
            return process.returncode is not None

        base_url = self.client_url(local.node_id)
        if await node_http.wait_healthy(
            base_url, timeout_s=self.start_timeout_s, poll_s=0.05, gave_up=exited
        ):
            return
        if process.returncode is not None:
            self._forget(local)
            raise NodeStartError(
                f"{local.node_id} exited with code {process.returncode} before"
                f" answering /health; last lines of {local.log_path}:\n" + log_tail(local.log_path)
            )
        raise NodeStartError(
            f"{local.node_id} did not answer {base_url}/health within {self.start_timeout_s} s;"
            f" last lines of {local.log_path}:\n" + log_tail(local.log_path)
        )

    def _signal(self, local: LocalNode, signum: signal.Signals) -> None:
        # Only while unreaped: a reaped pid (and its group id) may already be someone else's.
        if local.process is None or local.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(local.process.pid, signum)

    async def _stop(self, local: LocalNode, *, grace_s: float) -> None:
        """SIGTERM (or SIGKILL when ``grace_s`` is 0), wait, then SIGKILL the group."""
        process = local.process
        if process is None:
            return
        if process.returncode is None:
            if grace_s > 0:
                self._signal(local, signal.SIGTERM)
                if local.paused:
                    self._signal(local, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), timeout=grace_s)
            self._signal(local, signal.SIGKILL)
            self._signal(local, signal.SIGCONT)
            await process.wait()
        local.paused = False
        self._forget(local)

    def _forget(self, local: LocalNode) -> None:
        if local.process is not None:
            _LIVE_GROUPS.discard(local.process.pid)
