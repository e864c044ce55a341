"""The docker backend: every node is a container on a private bridge network.

Theory of operation: the harness talks to each node over a published HTTP port
on 127.0.0.1 (picked up front so a restarted container keeps it). Process
faults map to docker verbs: kill = SIGKILL (the container's /data volume
survives, so a restart resumes from disk), pause = the cgroup freezer.
Partitions are iptables rules inside the SENDING container: a blackholed
directed link i -> j drops i's packets to j's peer port, which is exactly the
connection i dialed to j (the runtime sends to a peer only over the connection
it dialed), so the link hangs like a Jepsen DROP while j -> i stays up. Clock
skew goes through the node's test-hook clock (libfaketime hangs Python's
monotonic waits; see docs/containers.md). Every object carries the label
``sinkron.run=<run id>`` and ``close`` removes them all, also after failures.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from harness.backends import node_http
from harness.backends.base import Backend, ClusterSpec, Link
from harness.backends.ports import free_ports

PEER_PORT = 7100
HTTP_PORT = 7000
CHAIN = "SINKRON"


class DockerBackend(Backend):
    """Nodes as containers; see the module docstring.

    The image is made ready in the constructor, not in ``start``: building it can
    take a minute or two, and callers bound ``start`` by the time a cluster needs
    to come up, not by the time a build needs.
    """

    def __init__(self, spec: ClusterSpec, *, image: str | None = None) -> None:
        import docker  # imported here so the local backend never needs the SDK

        from harness.run.runner import BackendUnavailable

        self.spec = spec
        self.run_id = uuid.uuid4().hex[:8]
        try:
            self.client = docker.from_env()
            self.image = self._ensure_image(image)
        except docker.errors.DockerException as error:
            raise BackendUnavailable(f"no Docker engine answers: {error}") from error
        except (subprocess.CalledProcessError, RuntimeError, OSError) as error:
            raise BackendUnavailable(f"the node image could not be built: {error}") from error
        self._ids = [f"n{i}" for i in range(1, spec.nodes + 1)]
        self._ports = dict(zip(self._ids, free_ports(len(self._ids)), strict=True))
        self._containers: dict[str, Any] = {}
        self._addresses: dict[str, str] = {}
        self._network: Any = None
        self._blocked: set[Link] = set()
        # A safety net for exits that skip ``close`` (an exception in the caller's own
        # cleanup, a second Ctrl-C): nothing labelled with this run outlives the process.
        atexit.register(remove_run_objects, self.client, self.run_id)

    @property
    def node_ids(self) -> list[str]:
        return list(self._ids)

    def client_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self._ports[node]}"

    def _name(self, node: str) -> str:
        return f"sinkron-{self.run_id}-{node}"

    async def start(self) -> None:
        labels = {"sinkron.run": self.run_id}
        print(
            f"docker backend: image {self.image}, objects labelled sinkron.run={self.run_id}",
            file=sys.stderr,
        )
        self._network = await asyncio.to_thread(
            self.client.networks.create, f"sinkron-{self.run_id}", driver="bridge", labels=labels
        )
        peers = ",".join(f"{node}={self._name(node)}:{PEER_PORT}" for node in self._ids)
        for node in self._ids:
            env = {
                "SINKRON_NODE_ID": node,
                "SINKRON_PEERS": peers,
                "SINKRON_CLUSTER_ID": self.spec.cluster_id,
                "SINKRON_CLUSTER_SECRET": self.spec.cluster_secret,
                "SINKRON_TEST_HOOKS": "1" if self.spec.test_hooks else "0",
                **self.spec.extra_env,
            }
            self._containers[node] = await asyncio.to_thread(
                self.client.containers.run,
                self.image,
                name=self._name(node),
                hostname=self._name(node),
                detach=True,
                environment=env,
                labels=labels,
                network=self._network.name,
                ports={f"{HTTP_PORT}/tcp": ("127.0.0.1", self._ports[node])},
                cap_add=["NET_ADMIN"],
            )
        await asyncio.gather(*(self._wait_healthy(node) for node in self._ids))
        await asyncio.gather(*(self._install_chain(node) for node in self._ids))

    def _ensure_image(self, image: str | None) -> str:
        """``image`` if given (built if missing), else the current source tree's image."""
        from harness.commands.image import build_image, ensure_current_image, image_exists

        if image is None:
            return ensure_current_image()
        if not image_exists(image):
            build_image(image)
        return image

    async def _wait_healthy(self, node: str, timeout_s: float = 60.0) -> None:
        async def exited() -> bool:  # it will not get healthy by waiting: say why now
            return await self._status(node) in {"exited", "dead"}

        if await node_http.wait_healthy(self.client_url(node), timeout_s=timeout_s, gave_up=exited):
            return
        logs = await asyncio.to_thread(self._containers[node].logs, tail=20)
        raise RuntimeError(
            f"{node} did not become healthy (container {await self._status(node)}):\n"
            f"{logs.decode(errors='replace')}"
        )

    async def _exec(self, node: str, command: list[str]) -> str:
        result = await asyncio.to_thread(self._containers[node].exec_run, command)
        output = result.output.decode(errors="replace") if result.output else ""
        if result.exit_code != 0:
            raise RuntimeError(f"{node}: {' '.join(command)} failed: {output.strip()}")
        return output

    async def _install_chain(self, node: str) -> None:
        # Idempotent: the chain survives container restarts only if iptables state does,
        # which it does not after a kill, so start_node calls this again.
        await asyncio.to_thread(
            self._containers[node].exec_run, ["iptables", "-N", CHAIN]
        )  # may already exist
        check = await asyncio.to_thread(
            self._containers[node].exec_run, ["iptables", "-C", "OUTPUT", "-j", CHAIN]
        )
        if check.exit_code != 0:
            await self._exec(node, ["iptables", "-A", "OUTPUT", "-j", CHAIN])

    async def start_node(self, node: str) -> None:
        await asyncio.to_thread(self._containers[node].start)
        await self._wait_healthy(node)
        await self._install_chain(node)
        # A restarted container may come back with another address on the bridge, and the
        # other nodes' rules name addresses: refresh every node's rules, not only this one's.
        self._addresses.pop(node, None)
        await asyncio.gather(*(self._apply_rules(other) for other in self._ids))

    async def stop_node(self, node: str) -> None:
        await self.resume_node(node)  # a frozen process cannot handle SIGTERM
        await asyncio.to_thread(self._containers[node].stop, timeout=10)
        self._addresses.pop(node, None)

    async def _status(self, node: str) -> str:
        container = self._containers[node]
        await asyncio.to_thread(container.reload)
        return str(container.status)

    async def kill_node(self, node: str) -> None:
        status = await self._status(node)
        if status == "paused":  # SIGKILL waits for a frozen cgroup; thaw it first
            await asyncio.to_thread(self._containers[node].unpause)
        if status in {"running", "paused"}:
            await asyncio.to_thread(self._containers[node].kill, signal="SIGKILL")
        self._addresses.pop(node, None)

    async def pause_node(self, node: str) -> None:
        if await self._status(node) == "running":
            await asyncio.to_thread(self._containers[node].pause)

    async def resume_node(self, node: str) -> None:
        # Idempotent like the local backend: healing a node that is not paused is fine.
        if await self._status(node) == "paused":
            await asyncio.to_thread(self._containers[node].unpause)
            await self._apply_rules(node)  # a partition may have changed while it was frozen

    async def partition(self, links: set[Link]) -> None:
        self._blocked = set(links)
        await asyncio.gather(*(self._apply_rules(node) for node in self._ids))

    async def heal(self) -> None:
        await self.partition(set())

    async def _apply_rules(self, node: str) -> None:
        if await self._status(node) != "running":
            return  # a dead or frozen node gets its rules when it is started again
        # One shell command, so a partition is a single exec per node (flush, then the DROPs).
        commands = [f"iptables -F {CHAIN}"]
        for source, target in sorted(self._blocked):
            if source == node:
                address = await self._address(target)
                commands.append(
                    f"iptables -A {CHAIN} -p tcp -d {address} --dport {PEER_PORT} -j DROP"
                )
        await self._exec(node, ["sh", "-c", " && ".join(commands)])

    async def _address(self, node: str) -> str:
        """The node's address on the run's network (kept while the container lives)."""
        if node not in self._addresses:
            container = self._containers[node]
            await asyncio.to_thread(container.reload)
            networks = container.attrs["NetworkSettings"]["Networks"]
            address = str(networks[self._network.name]["IPAddress"])
            if address:  # a stopped container has none; its rules are refreshed on start
                self._addresses[node] = address
            return address or "0.0.0.0/32"
        return self._addresses[node]

    async def blocked_rules(self, node: str) -> list[str]:
        """The DROP rules in force inside ``node`` (for tests and post-mortems)."""
        output = await self._exec(node, ["iptables", "-S", CHAIN])
        return [line for line in output.splitlines() if "DROP" in line]

    async def set_clock_offset(self, node: str, offset_ms: int) -> None:
        await node_http.set_clock_offset(node, self.client_url(node), offset_ms)

    async def collect_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for node, container in self._containers.items():
            logs = await asyncio.to_thread(container.logs)
            (dest / f"{node}.log").write_bytes(logs)

    async def close(self) -> None:
        await asyncio.to_thread(remove_run_objects, self.client, self.run_id)
        self._containers.clear()
        self._addresses.clear()


def remove_run_objects(client: Any, run_id: str | None = None) -> None:
    """Remove containers and networks of one run (or of every Sinkron run when run_id is None)."""
    label = "sinkron.run" if run_id is None else f"sinkron.run={run_id}"
    for container in client.containers.list(all=True, filters={"label": label}):
        # Already gone is fine: removal is best effort and idempotent.
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            network.remove()
