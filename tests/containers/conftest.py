"""Docker-backed tests: skipped, with the reason said, when no Docker engine answers.

(The folder is not called tests/docker: tests/ is on sys.path under pytest's
default import mode, so a package named ``docker`` there would shadow the
docker SDK for every test in the session.)

The node image is built once per source tree (tag ``sinkron:src-<digest>``): the
first xdist worker builds it under a file lock, the others wait and reuse it. The
debootstrap base (~60 s) is built only when missing.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.docker


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_client() -> Any:
    if not docker_available():
        pytest.skip("no Docker engine answers on this machine (`docker info` failed): skipped")
    try:
        import docker
    except ImportError:
        pytest.skip("the docker SDK for Python is not installed: skipped")
    return docker.from_env()


@pytest.fixture(scope="session")
def node_image(docker_client: Any) -> str:
    """The node image of the current source, built offline unless it already exists."""
    from harness.commands.image import ensure_current_image

    return ensure_current_image()


def run_objects(client: Any, run_id: str) -> list[str]:
    """Names of the containers and networks still labelled with this run."""
    label = {"label": f"sinkron.run={run_id}"}
    containers = [c.name for c in client.containers.list(all=True, filters=label)]
    networks = [n.name for n in client.networks.list(filters=label)]
    return containers + networks


@pytest.fixture
def cleanup_runs(docker_client: Any) -> Iterator[list[str]]:
    """Run ids appended here are removed after the test, whatever happened."""
    from harness.backends.docker import remove_run_objects

    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        remove_run_objects(docker_client, run_id)


# ---- probes of a running cluster (any backend) ----------------------------------


async def get_json(url: str, timeout_s: float = 1.0) -> Any:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return await response.json()


async def node_status(url: str) -> dict[str, Any] | None:
    try:
        return dict(await get_json(url + "/status"))
    except (TimeoutError, aiohttp.ClientError):
        return None


async def wait_until(
    condition: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 20.0
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


async def leader_among(backend: Any, nodes: list[str]) -> str | None:
    """A leader that every node of ``nodes`` names in the same term, or None."""
    statuses = [await node_status(backend.client_url(node)) for node in nodes]
    if any(status is None for status in statuses):
        return None
    named = {(status["term"], status["leader"]) for status in statuses if status}
    if len(named) != 1:
        return None
    (_, leader), = named  # fmt: skip
    return str(leader) if leader in nodes else None
