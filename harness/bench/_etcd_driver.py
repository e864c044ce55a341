"""A 3-node etcd cluster on 127.0.0.1 for the lock benchmark's comparison (bench env only).

Uses Debian's etcd-server when installed (``etcd`` on PATH) and etcd's v3
JSON gateway: /v3/lease/grant, /v3/lock/lock, /v3/lock/unlock. Absent etcd,
``etcd_available()`` is false and the benchmark says so in its table.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.backends.ports import free_ports
from harness.bench._http1 import Http1Client


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


@contextlib.contextmanager
def etcd_cluster(nodes: int = 3) -> Iterator[list[str]]:
    """Start an etcd cluster (fsync on, etcd's default); yields the client URLs."""
    ports = free_ports(2 * nodes)
    client_ports, peer_ports = ports[:nodes], ports[nodes:]
    initial = ",".join(f"e{i}=http://127.0.0.1:{peer_ports[i]}" for i in range(nodes))
    with tempfile.TemporaryDirectory(prefix="etcd-bench-") as tmp:
        processes = []
        try:
            for i in range(nodes):
                client_url = f"http://127.0.0.1:{client_ports[i]}"
                peer_url = f"http://127.0.0.1:{peer_ports[i]}"
                command = [
                    "etcd", "--name", f"e{i}", "--data-dir", str(Path(tmp) / f"e{i}"),
                    "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                    "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                    "--initial-cluster", initial, "--initial-cluster-state", "new",
                ]  # fmt: skip
                log = open(Path(tmp) / f"e{i}.log", "wb")  # noqa: SIM115 - owned by the process
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            urls = [f"http://127.0.0.1:{port}" for port in client_ports]
            _wait_ready(urls[0])
            yield urls
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    body = json.dumps({"key": "cmVhZHk=", "value": "MQ=="}).encode()
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/v3/kv/put", data=body, timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("etcd cluster did not become ready")


def leader_url(urls: list[str]) -> str:
    """The client URL of the etcd member that leads (clients of the Sinkron side do the same)."""
    for url in urls:
        request = urllib.request.Request(f"{url}/v3/maintenance/status", data=b"{}")
        with urllib.request.urlopen(request, timeout=5) as response:
            status = json.loads(response.read())
        if status.get("leader") == status.get("header", {}).get("member_id"):
            return url
    raise RuntimeError("no etcd leader")


class EtcdLocker:
    """acquire/release through etcd's lock API, each owner with its own lease and connection.

    Same load generator as the Sinkron side (``Http1Client``: one keep-alive
    connection, one request in flight).
    """

    def __init__(self, url: str, ttl_s: int = 30) -> None:
        self.client, self.ttl_s = Http1Client(url), ttl_s
        self.lease: str | None = None

    async def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        status, reply = await self.client.json("POST", path, body)
        if status != 200:
            raise RuntimeError(f"etcd {path}: {status} {reply}")
        return dict(reply)

    def close(self) -> None:
        self.client.close()

    async def acquire(self, name: str) -> str:
        if self.lease is None:
            self.lease = str((await self._post("/v3/lease/grant", {"TTL": self.ttl_s}))["ID"])
        encoded = base64.b64encode(name.encode()).decode()
        reply = await self._post("/v3/lock/lock", {"name": encoded, "lease": self.lease})
        return str(reply["key"])

    async def release(self, key: str) -> None:
        await self._post("/v3/lock/unlock", {"key": key})
