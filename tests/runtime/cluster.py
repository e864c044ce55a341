"""Start real node processes on 127.0.0.1 for integration tests (free ports, own data dirs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.backends.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]


def http(
    method: str, url: str, body: Any = None, *, raw: bytes | None = None, timeout: float = 15.0
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request; never raises on HTTP errors."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


def run_node_once(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m impl.runtime`` run to its exit with exactly ``env`` (and no .env file)."""
    return subprocess.run(
        [sys.executable, "-m", "impl.runtime", "--env-file", str(tmp_path / "none")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


class LocalCluster:
    def __init__(
        self,
        root: Path,
        nodes: int = 3,
        *,
        test_hooks: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.ids = [f"n{i}" for i in range(1, nodes + 1)]
        ports = free_ports(2 * nodes)
        self.http_ports = dict(zip(self.ids, ports[:nodes], strict=True))
        self.peer_ports = dict(zip(self.ids, ports[nodes:], strict=True))
        self.test_hooks = test_hooks
        self.env = env or {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[node]}"

    def start(self) -> LocalCluster:
        for node in self.ids:
            self.start_node(node)
        for node in self.ids:
            self.wait_healthy(node)
        return self

    def add_joining_node(self, node: str) -> None:
        """Start a node outside the initial membership with SINKRON_JOIN=1."""
        http_port, peer_port = free_ports(2)
        self.http_ports[node], self.peer_ports[node] = http_port, peer_port
        self.start_node(node, join=True)
        self.wait_healthy(node)

    def start_node(self, node: str, *, join: bool = False) -> None:
        peers = ",".join(f"{n}=127.0.0.1:{self.peer_ports[n]}" for n in self.ids)
        env = {
            "SINKRON_JOIN": "1" if join else "0",
            "SINKRON_PEER_PORT": str(self.peer_ports[node]),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SINKRON_NODE_ID": node,
            "SINKRON_PEERS": peers,
            "SINKRON_HTTP_PORT": str(self.http_ports[node]),
            "SINKRON_DATA_DIR": str(self.root / node),
            "SINKRON_CLUSTER_ID": "test",
            "SINKRON_CLUSTER_SECRET": "test-secret",
            "SINKRON_TEST_HOOKS": "1" if self.test_hooks else "0",
            # CI machines are shared and slow; a generous timeout keeps answers definite.
            "SINKRON_REQUEST_TIMEOUT_MS": "5000",
            **self.env,
        }
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[node] = subprocess.Popen(
            [sys.executable, "-m", "impl.runtime", "--env-file", str(self.root / "no.env")],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        log.close()

    def wait_healthy(self, node: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if http("GET", self.url(node) + "/health", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass
            if self.processes[node].poll() is not None:
                raise RuntimeError(f"{node} exited: {self.log(node)[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"{node} not healthy: {self.log(node)[-2000:]}")

    def log(self, node: str) -> str:
        return (self.root / f"{node}.log").read_text(errors="replace")

    def leader(self, among: list[str] | None = None, timeout_s: float = 20.0) -> str:
        """The node every live node agrees is leader (and which is itself among them)."""
        nodes = among or [n for n in self.ids if n in self.processes]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            views = set()
            for node in nodes:
                try:
                    views.add(http("GET", self.url(node) + "/status", timeout=1.0)[1]["leader"])
                except (OSError, KeyError, TypeError):
                    views.add(None)
            if len(views) == 1 and None not in views and next(iter(views)) in nodes:
                return str(views.pop())
            time.sleep(0.05)
        raise TimeoutError("no agreed leader")

    def kill(self, node: str) -> None:
        process = self.processes.pop(node)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self, node: str) -> int:
        """SIGTERM and wait; a node that does not stop in time is killed (never leaked)."""
        process = self.processes.pop(node)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise

    def close(self) -> None:
        for node in list(self.processes):
            self.kill(node)
