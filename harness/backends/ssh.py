"""The ssh backend: Sinkron nodes on real hosts, driven over SSH as Jepsen does.

Theory of operation: a hosts file (TOML) lists one ``[[host]]`` per node with
its ssh address, user and key, and the addresses the harness and the peers
use. ``start`` uploads the project wheel and the node's dependency wheels
(built on the harness machine with ``pip wheel``, so hosts need no index),
installs them into a venv under ``remote_dir``, writes the node's environment
file, and starts the node detached with its pid in a file. Process faults are
signals to that pid; partitions are iptables DROP rules on the SENDING host
for the peer port of the target, which cut exactly the connection the sender
dialed (the runtime sends to a peer only over the connection it dialed); the
clock goes through the node's test hook. ``close`` stops the nodes and
removes the rules (data stays, for post-mortems, unless ``wipe=True``).

Hosts file example::

    [[host]]
    id = "n1"
    ssh_host = "127.0.0.1"     # where the harness reaches sshd
    ssh_port = 2201
    user = "root"
    key = "~/.ssh/sinkron_test"
    http_url = "http://127.0.0.1:7001"   # where the harness reaches the node's HTTP API
    peer_address = "host1:7100"          # where the other nodes reach this node
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shlex
import shutil
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends import node_http
from harness.backends.base import Backend, ClusterSpec, Link

CHAIN = "SINKRON"


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    id: str
    ssh_host: str
    ssh_port: int
    user: str
    key: str | None
    http_url: str
    peer_address: str

    @property
    def peer_host(self) -> str:
        return self.peer_address.rsplit(":", 1)[0]

    @property
    def peer_port(self) -> int:
        return int(self.peer_address.rsplit(":", 1)[1])


def load_hosts(path: Path) -> list[Host]:
    """Read a hosts file; raises ValueError naming the host and field that is wrong."""
    data = tomllib.loads(path.read_text())
    hosts = []
    for number, entry in enumerate(data.get("host", []), start=1):
        try:
            host_id = str(entry["id"])
            ssh_host = str(entry["ssh_host"])
            hosts.append(
                Host(
                    id=host_id,
                    ssh_host=ssh_host,
                    ssh_port=int(entry.get("ssh_port", 22)),
                    user=str(entry.get("user", "root")),
                    key=str(Path(entry["key"]).expanduser()) if "key" in entry else None,
                    http_url=str(entry.get("http_url", f"http://{ssh_host}:7000")),
                    peer_address=str(entry.get("peer_address", f"{ssh_host}:7100")),
                )
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: host #{number}: missing or bad field {error}") from error
    if not hosts:
        raise ValueError(f"{path}: no [[host]] entries")
    ids = [host.id for host in hosts]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate host ids {ids}")
    return hosts


def _stage_wheels(staged: Path) -> None:
    """Copy a fresh wheelhouse (deps + project, flat) into ``staged``.

    Under the image build lock: an image build running at the same time rewrites
    wheelhouse/project, so the upload works from a private copy.
    """
    from harness.commands.image import REPO_ROOT, build_lock, build_wheelhouse

    wheelhouse = REPO_ROOT / "wheelhouse"
    with build_lock():
        build_wheelhouse(wheelhouse)
        for folder in (wheelhouse / "deps", wheelhouse / "project"):
            for path in folder.iterdir():
                if path.is_file():
                    shutil.copy2(path, staged / path.name)


class SshBackend(Backend):
    def __init__(
        self,
        spec: ClusterSpec,
        hosts: list[Host],
        *,
        remote_dir: str = "/opt/sinkron-node",
        wipe: bool = False,
        install_now: bool = True,
    ) -> None:
        """``install_now`` uploads and installs the node on every host right here.

        That takes tens of seconds (pip on each host), and callers bound ``start`` by
        the time a cluster needs to come up, so the slow part happens before it.
        """
        self.spec = spec
        self.hosts = {host.id: host for host in hosts[: spec.nodes]}
        self.remote_dir = remote_dir
        self.wipe = wipe
        self._connections: dict[str, Any] = {}
        self._blocked: set[Link] = set()
        self._installed = False
        if install_now:
            self.install()

    @property
    def node_ids(self) -> list[str]:
        return list(self.hosts)

    def client_url(self, node: str) -> str:
        return self.hosts[node].http_url

    async def _connect(self, node: str) -> Any:
        import asyncssh

        if node not in self._connections:
            host = self.hosts[node]
            self._connections[node] = await asyncssh.connect(
                host.ssh_host,
                port=host.ssh_port,
                username=host.user,
                client_keys=[host.key] if host.key else None,
                known_hosts=None,  # test hosts are re-created every run; pin keys in production
            )
        return self._connections[node]

    async def _run(self, node: str, command: str, *, check: bool = True) -> str:
        connection = await self._connect(node)
        result = await connection.run(command, check=False)
        if check and result.exit_status != 0:
            raise RuntimeError(f"{node}: `{command}` exited {result.exit_status}: {result.stderr}")
        return str(result.stdout or "")

    def install(self) -> None:
        """Build the wheelhouse and install it on every host (blocking; any thread).

        Runs on a private event loop in a worker thread, so it works whether or not
        the caller is inside a running loop; its connections are closed at the end.
        """

        async def install_all() -> None:
            staged = Path(tempfile.mkdtemp(prefix="sinkron-ssh-wheels-"))
            try:
                await asyncio.to_thread(_stage_wheels, staged)
                await asyncio.gather(*(self._install(node, staged) for node in self.hosts))
            finally:
                self._close_connections()
                shutil.rmtree(staged, ignore_errors=True)

        from harness.run.runner import BackendUnavailable

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
            try:
                executor.submit(asyncio.run, install_all()).result()
            except Exception as error:  # ssh, scp, pip or the wheel build: all say "cannot use"
                raise BackendUnavailable(
                    f"installing the node on the ssh hosts failed: {type(error).__name__}: {error}"
                ) from error
        self._installed = True

    async def start(self) -> None:
        if not self._installed:
            await asyncio.to_thread(self.install)
        await asyncio.gather(*(self.start_node(node) for node in self.hosts))

    async def _install(self, node: str, wheels: Path) -> None:
        import asyncssh

        remote = self.remote_dir
        await self._run(node, f"rm -rf {remote}/wheels && mkdir -p {remote}/wheels {remote}/data")
        connection = await self._connect(node)
        files = [str(path) for path in sorted(wheels.iterdir())]
        await asyncssh.scp(files, (connection, f"{remote}/wheels/"))
        await self._run(
            node,
            f"cd {remote} && (test -x venv/bin/python || python3 -m venv venv) && "
            f"venv/bin/pip install -q --no-index --find-links wheels -r wheels/requirements-node.txt && "
            f"venv/bin/pip install -q --no-index --no-deps --force-reinstall --find-links wheels sinkron",
        )
        peers = ",".join(f"{host.id}={host.peer_address}" for host in self.hosts.values())
        host = self.hosts[node]
        env = {
            "SINKRON_NODE_ID": node,
            "SINKRON_PEERS": peers,
            "SINKRON_HTTP_HOST": "0.0.0.0",
            "SINKRON_HTTP_PORT": "7000",
            "SINKRON_PEER_HOST": "0.0.0.0",
            "SINKRON_PEER_PORT": str(host.peer_port),
            "SINKRON_DATA_DIR": f"{remote}/data",
            "SINKRON_CLUSTER_ID": self.spec.cluster_id,
            "SINKRON_CLUSTER_SECRET": self.spec.cluster_secret,
            "SINKRON_TEST_HOOKS": "1" if self.spec.test_hooks else "0",
            **self.spec.extra_env,
        }
        env_text = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
        await self._run(
            node, f"cat > {remote}/node.env <<'EOF'\n{env_text}EOF\nchmod 600 {remote}/node.env"
        )
        await self._run(
            node,
            f"iptables -N {CHAIN} 2>/dev/null; iptables -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -A OUTPUT -j {CHAIN}",
        )

    async def start_node(self, node: str) -> None:
        remote = self.remote_dir
        await self._run(
            node,
            # Braces matter: `a && b & c` would background the whole `a && b` list in a
            # subshell that keeps the ssh channel open and whose pid is not the node's.
            f"cd {remote} && . ./node.env && "
            f"{{ setsid nohup venv/bin/python -m impl.runtime >>node.log 2>&1 </dev/null & "
            f"echo $! > {remote}/node.pid; }}",
        )
        await self._wait_healthy(node)

    async def _wait_healthy(self, node: str, timeout_s: float = 60.0) -> None:
        if await node_http.wait_healthy(self.client_url(node), timeout_s=timeout_s):
            return
        tail = await self._run(node, f"tail -20 {self.remote_dir}/node.log", check=False)
        raise RuntimeError(f"{node} did not become healthy in {timeout_s:.0f} s:\n{tail}")

    async def _signal(self, node: str, signal: str) -> None:
        await self._run(node, f"kill -{signal} $(cat {self.remote_dir}/node.pid)", check=False)

    async def stop_node(self, node: str) -> None:
        await self._signal(node, "TERM")
        await self._run(
            node,
            f"for i in $(seq 50); do kill -0 $(cat {self.remote_dir}/node.pid) 2>/dev/null || exit 0; sleep 0.2; done; "
            f"kill -KILL $(cat {self.remote_dir}/node.pid)",
            check=False,
        )

    async def kill_node(self, node: str) -> None:
        await self._signal(node, "KILL")

    async def pause_node(self, node: str) -> None:
        await self._signal(node, "STOP")

    async def resume_node(self, node: str) -> None:
        await self._signal(node, "CONT")

    async def partition(self, links: set[Link]) -> None:
        self._blocked = set(links)
        await asyncio.gather(*(self._apply_rules(node) for node in self.hosts))

    async def heal(self) -> None:
        await self.partition(set())

    async def _apply_rules(self, node: str) -> None:
        commands = [f"iptables -F {CHAIN}"]
        for source, target in sorted(self._blocked):
            if source == node:
                peer = self.hosts[target]
                commands.append(
                    f"iptables -A {CHAIN} -p tcp -d {shlex.quote(peer.peer_host)} "
                    f"--dport {peer.peer_port} -j DROP"
                )
        await self._run(node, " && ".join(commands))

    async def set_clock_offset(self, node: str, offset_ms: int) -> None:
        await node_http.set_clock_offset(node, self.client_url(node), offset_ms)

    async def collect_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for node in self.hosts:
            text = await self._run(node, f"tail -n 2000 {self.remote_dir}/node.log", check=False)
            (dest / f"{node}.log").write_text(text)

    async def close(self) -> None:
        for node in list(self.hosts):
            try:
                await self.stop_node(node)
                await self._run(node, f"iptables -F {CHAIN}", check=False)
                if self.wipe:
                    await self._run(node, f"rm -rf {self.remote_dir}", check=False)
            except Exception as error:  # best effort: report, keep closing the others
                print(f"ssh backend: cleanup of {node} failed: {error}", file=sys.stderr)
        self._close_connections()

    def _close_connections(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
