"""Adding and removing a node the documented way (docker compose + /cluster/members) loses
no acknowledged write, while clients keep writing.

The documented path (docs/containers.md): ``docker compose --profile scale up -d node4``
starts n4 with SINKRON_JOIN=1; POST /cluster/members on the leader adds it as a learner and
promotes it; DELETE /cluster/members/n4 removes it again. The compose project gets its own
name and free host ports, so the test runs next to anything else on the machine.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.backends.ports import free_ports

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor `docker compose` is installed: skipped")


class Compose:
    def __init__(self, image: str, workdir: Path) -> None:
        self.project = "sinkronm" + uuid.uuid4().hex[:6]
        self.ports = dict(zip([f"n{i}" for i in range(1, 5)], free_ports(4), strict=True))
        env_file = workdir / "compose.env"
        env_file.write_text(
            f"SINKRON_IMAGE={image}\nSINKRON_CLUSTER_SECRET=membership-test\n"
            + "".join(f"SINKRON_HOST_PORT_{i}={self.ports[f'n{i}']}\n" for i in range(1, 5))
        )
        self.base = [
            *_compose_command(),
            *("-p", self.project, "--env-file", str(env_file), "--profile", "scale"),
        ]

    def __call__(self, *args: str) -> None:
        result = subprocess.run(
            [*self.base, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"compose {args}: {result.stderr[-2000:]}"

    def url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    try:
        async with session.request(method, url, **kw) as response:
            return response.status, await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None, None


async def _leader(session: aiohttp.ClientSession, compose: Compose, nodes: list[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for node in nodes:
            _, status = await _json(session, "GET", compose.url(node) + "/status")
            if status and status.get("role") == "leader":
                return node
        await asyncio.sleep(0.2)
    raise AssertionError("no leader within 30 s")


async def _membership_change(
    session: aiohttp.ClientSession, compose: Compose, method: str, path: str, body: Any = None
) -> Any:
    """Run a /cluster/members call on the current leader (the API refuses it elsewhere)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        leader = await _leader(session, compose, ["n1", "n2", "n3"])
        status, reply = await _json(session, method, compose.url(leader) + path, json=body)
        if status == 200:
            return reply
        await asyncio.sleep(0.3)
    raise AssertionError(f"{method} {path} did not succeed within 30 s")


async def _writer(
    session: aiohttp.ClientSession,
    url: str,
    worker: int,
    acknowledged: dict[str, int],
    stop: asyncio.Event,
) -> None:
    sequence = 0
    while not stop.is_set():
        sequence += 1
        key = f"w{worker}-{sequence}"
        status, _ = await _json(session, "PUT", f"{url}/kv/{key}", json={"value": sequence})
        if status == 200:
            acknowledged[key] = sequence
        await asyncio.sleep(0.01)


def test_adding_and_removing_a_node_under_load_loses_no_acknowledged_write(
    node_image: str, tmp_path: Path
) -> None:
    """Every write acknowledged while n4 joins, is promoted and is removed is read back after."""
    compose = Compose(node_image, tmp_path)
    acknowledged: dict[str, int] = {}

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await _leader(session, compose, ["n1", "n2", "n3"])
            stop = asyncio.Event()
            writers = [
                asyncio.create_task(
                    _writer(session, compose.url(f"n{1 + i % 3}"), i, acknowledged, stop)
                )
                for i in range(6)
            ]
            await asyncio.sleep(1)
            await asyncio.to_thread(compose, "up", "-d", "node4")
            added = await _membership_change(
                session,
                compose,
                "POST",
                "/cluster/members",
                {"id": "n4", "peer_address": "node4:7100", "promote": True},
            )
            seen["added"] = added
            # n4 catches up and serves reads of what was written before it joined.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                _, status = await _json(session, "GET", compose.url("n4") + "/status")
                if status and "n4" in status["members"] and status["applied_index"] > 3:
                    break
                await asyncio.sleep(0.2)
            seen["n4_status"] = status
            await asyncio.sleep(2)  # keep writing with four voters
            seen["removed"] = await _membership_change(
                session, compose, "DELETE", "/cluster/members/n4"
            )
            await asyncio.sleep(2)  # and with three again
            stop.set()
            await asyncio.gather(*writers)
            await asyncio.to_thread(compose, "stop", "node4")
            leader = await _leader(session, compose, ["n1", "n2", "n3"])
            _, seen["final_status"] = await _json(session, "GET", compose.url(leader) + "/status")
            lost = {}
            for key, value in acknowledged.items():
                status_code, reply = await _json(session, "GET", f"{compose.url(leader)}/kv/{key}")
                if status_code != 200 or reply.get("value") != value:
                    lost[key] = (status_code, reply)
            seen["lost"] = lost
        return seen

    try:
        compose("up", "-d", "node1", "node2", "node3")
        seen = asyncio.run(scenario())
    finally:
        compose("down", "-v", "--remove-orphans")
    assert seen["added"] == {"id": "n4", "peer_address": "node4:7100", "voter": True}
    assert seen["n4_status"] and "n4" in seen["n4_status"]["members"], seen
    assert seen["removed"] == {"id": "n4", "removed": True}
    assert seen["final_status"]["members"] == ["n1", "n2", "n3"], seen["final_status"]
    assert len(acknowledged) > 100, f"too little load to mean anything: {len(acknowledged)}"
    assert seen["lost"] == {}, f"acknowledged writes lost: {seen['lost']}"
