"""Network-namespace links for the local backend (``--net netns``, root only).

Theory of operation: each node runs in its own network namespace with one
veth interface plugged into a bridge in the root namespace, so every node has
its own IP address (10.231.<subnet>.<10+k>) and the harness reaches each
node's HTTP API through the bridge. A cut is made the way Jepsen makes it:
iptables DROP rules inside the dialing node's namespace, in a private
``SINKRON`` chain hooked into INPUT and OUTPUT.

Rule 1: link (i, j) is the connection i dials to j's peer port. In i's
namespace two rules drop it both ways: OUTPUT to j's IP and peer port, and
INPUT from j's IP and peer port. The connection j dials to i is untouched,
so links stay directed, exactly as in relay mode.

Rule 2: unlike the relay, this is the kernel's DROP: TCP retransmits what was
lost, so bytes sent during a short cut may arrive after the heal, and a long
cut ends when the sender's TCP gives up. That is what a real network does.

Rule 3: everything created here carries a random per-backend token in its
name (namespaces ``sinkron-<token>-<node>``, bridge ``bsk<token>``, veths
``vsk<token><k>``) and is removed in ``close``: namespaces (with their
rules), veths, the bridge, and the one root FORWARD rule that lets bridged
traffic pass when the host's FORWARD policy is DROP (Docker sets it so).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets

from harness.backends.local import BackendError

CHAIN = "SINKRON"


class NetnsUnavailable(BackendError):
    """Namespaces cannot be used here; the message says to use relay mode."""


class NetnsNetwork:
    """One namespace per node on a private bridge; cuts by iptables DROP inside namespaces."""

    def __init__(self, subnet: int | None = None) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable(
                "--net netns needs root (ip netns, veth, iptables); run as root or use --net relay"
            )
        self.token = secrets.token_hex(2)
        self.subnet = subnet
        self.bridge = f"bsk{self.token}"
        self.addresses: dict[str, str] = {}
        self.namespaces: dict[str, str] = {}
        self.veths: list[str] = []
        self.peer_ports: dict[str, int] = {}
        self._forward_rule: list[str] | None = None

    async def setup(self, peer_ports: dict[str, int]) -> None:
        self.peer_ports = dict(peer_ports)
        try:
            await self._create_bridge()
            for k, node in enumerate(peer_ports, start=1):
                await self._create_node_namespace(node, k)
        except BackendError as error:
            await self.close()
            raise NetnsUnavailable(f"{error}; use --net relay instead") from error

    async def _create_bridge(self) -> None:
        if self.subnet is None:
            in_use = await _run("ip", "-4", "addr")
            free = [n for n in range(20, 220) if f"10.231.{n}." not in in_use]
            if not free:
                raise BackendError("no free 10.231.x.0/24 subnet")
            self.subnet = free[secrets.randbelow(len(free))]
        await _run("ip", "link", "add", self.bridge, "type", "bridge")
        await _run("ip", "addr", "add", f"10.231.{self.subnet}.1/24", "dev", self.bridge)
        await _run("ip", "link", "set", self.bridge, "up")
        rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        await _run("iptables", "-I", *rule[:1], "1", *rule[1:])
        self._forward_rule = rule

    async def _create_node_namespace(self, node: str, k: int) -> None:
        namespace = f"sinkron-{self.token}-{node}"
        veth = f"vsk{self.token}{k}"
        address = f"10.231.{self.subnet}.{10 + k}"
        await _run("ip", "netns", "add", namespace)
        self.namespaces[node] = namespace
        await _run(
            "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace
        )
        self.veths.append(veth)
        await _run("ip", "link", "set", veth, "master", self.bridge, "up")
        await _run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        await _run("ip", "-n", namespace, "link", "set", "eth0", "up")
        await _run("ip", "-n", namespace, "link", "set", "lo", "up")
        for hook in ("INPUT", "OUTPUT"):
            if hook == "INPUT":
                await _run("ip", "netns", "exec", namespace, "iptables", "-N", CHAIN)
            await _run("ip", "netns", "exec", namespace, "iptables", "-I", hook, "-j", CHAIN)
        self.addresses[node] = address

    def node_host(self, node: str) -> str:
        return self.addresses[node]

    def command_prefix(self, node: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[node]]

    def peer_address(self, source: str, target: str, peer_ports: dict[str, int]) -> tuple[str, int]:
        return self.addresses[target], peer_ports[target]

    async def partition(self, links: set[tuple[str, str]]) -> None:
        await self.heal()
        for source, target in sorted(links):
            namespace, address = self.namespaces[source], self.addresses[target]
            port = str(self.peer_ports[target])
            iptables = ["ip", "netns", "exec", namespace, "iptables", "-A", CHAIN, "-p", "tcp"]
            await _run(*iptables, "-d", address, "--dport", port, "-j", "DROP")
            await _run(*iptables, "-s", address, "--sport", port, "-j", "DROP")

    async def heal(self) -> None:
        for namespace in self.namespaces.values():
            await _run("ip", "netns", "exec", namespace, "iptables", "-F", CHAIN)

    async def close(self) -> None:
        """Remove namespaces, veths, the bridge and the FORWARD rule; ignores what is gone."""
        for namespace in self.namespaces.values():
            with contextlib.suppress(BackendError):
                await _run("ip", "netns", "del", namespace)
        self.namespaces.clear()
        for veth in self.veths:
            with contextlib.suppress(BackendError):
                await _run("ip", "link", "del", veth, quiet=True)
        self.veths.clear()
        with contextlib.suppress(BackendError):
            await _run("ip", "link", "del", self.bridge, quiet=True)
        if self._forward_rule is not None:
            with contextlib.suppress(BackendError):
                await _run("iptables", "-D", *self._forward_rule)
            self._forward_rule = None


async def _run(*argv: str, quiet: bool = False) -> str:
    """Run one ip/iptables command; raise BackendError with its stderr if it fails."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as error:
        raise NetnsUnavailable(f"{argv[0]} is not installed; use --net relay") from error
    out, err = await process.communicate()
    if process.returncode != 0:
        if quiet:
            raise BackendError("")
        raise BackendError(f"`{' '.join(argv)}` failed: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")
