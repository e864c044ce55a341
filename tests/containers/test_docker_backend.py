"""The docker backend does what the Backend interface promises, with real containers.

Each test starts its own 3-node cluster on its own network, so tests run in
parallel under xdist; every container and network is removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.backends.base import ClusterSpec
from tests.containers.conftest import get_json as _get
from tests.containers.conftest import leader_among as _leader_among
from tests.containers.conftest import node_status as _status
from tests.containers.conftest import run_objects
from tests.containers.conftest import wait_until as _wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]  # may include a fresh image build
REPO_ROOT = Path(__file__).resolve().parents[2]


async def _put(url: str, key: str, value: int) -> None:
    timeout = aiohttp.ClientTimeout(total=3)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.put(f"{url}/kv/{key}", json={"value": value}) as response,
    ):
        assert response.status == 200, await response.text()


def test_docker_nodes_fault_and_recover_as_the_interface_says(
    node_image: str, docker_client: Any, cleanup_runs: list[str], tmp_path: Path
) -> None:
    """Partitions cut peer traffic, kill+restart resumes from the volume, pause freezes,
    the clock offset reaches the node's test hook, logs are collected and close removes all."""
    from harness.backends.docker import DockerBackend

    backend = DockerBackend(ClusterSpec(nodes=3, run_dir=tmp_path), image=node_image)
    cleanup_runs.append(backend.run_id)

    async def scenario() -> None:
        nodes = backend.node_ids
        await backend.start()
        leader = await _wait_until(lambda: _leader_among(backend, nodes), "a first leader")
        await _put(backend.client_url(leader), "before", 1)

        # Partition: isolate the leader both ways; the other two elect a new leader.
        others = [node for node in nodes if node != leader]
        cut = {(leader, o) for o in others} | {(o, leader) for o in others}
        await backend.partition(cut)
        assert len(await backend.blocked_rules(leader)) == 2
        new_leader = await _wait_until(
            lambda: _leader_among(backend, others), "the majority side elects a leader"
        )
        assert new_leader != leader
        isolated = await _status(backend.client_url(leader))
        assert isolated is not None and isolated["term"] < (
            await _status(backend.client_url(new_leader)) or {}
        ).get("term", 0), "the isolated node must not follow the new term: traffic was not cut"
        await backend.heal()
        assert await backend.blocked_rules(leader) == []
        await _wait_until(lambda: _leader_among(backend, nodes), "one leader after healing")

        # Kill + restart: the node comes back with its log from the volume.
        victim = others[0]
        before_kill = await _status(backend.client_url(victim))
        assert before_kill is not None
        await backend.kill_node(victim)

        async def gone() -> bool:
            return await _status(backend.client_url(victim)) is None

        await _wait_until(gone, "the killed node stops answering", timeout_s=5)
        await backend.start_node(victim)
        after = await _status(backend.client_url(victim))
        assert after is not None and after["term"] >= before_kill["term"] > 0, (before_kill, after)

        # Pause freezes the process (no answer), resume thaws it.
        await backend.pause_node(victim)
        assert await _status(backend.client_url(victim)) is None
        await backend.resume_node(victim)
        await backend.resume_node(victim)  # idempotent, like the local backend
        await _wait_until(lambda: _status(backend.client_url(victim)), "answers after resume")

        # Clock offset through the test hook.
        await backend.set_clock_offset(victim, 1500)
        clock = await _get(backend.client_url(victim) + "/_test/clock")
        assert clock["offset_ms"] == 1500

        await backend.collect_logs(tmp_path / "logs")
        log = (tmp_path / "logs" / f"{victim}.log").read_text()
        # Two starts of the same container: both are in the collected log.
        assert log.count("serving http://") == 2, log[-2000:]

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(backend.close())
    assert run_objects(docker_client, backend.run_id) == []


def test_docker_backend_close_removes_everything_after_a_failed_start(
    node_image: str, docker_client: Any, cleanup_runs: list[str], tmp_path: Path
) -> None:
    """A node that cannot start fails ``start`` quickly with its log, and close still cleans up."""
    from harness.backends.docker import DockerBackend

    spec = ClusterSpec(nodes=3, run_dir=tmp_path, extra_env={"SINKRON_TICK_MS": "not-a-number"})
    backend = DockerBackend(spec, image=node_image)
    cleanup_runs.append(backend.run_id)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="SINKRON_TICK_MS"):
        asyncio.run(backend.start())
    assert time.monotonic() - started < 45
    assert run_objects(docker_client, backend.run_id) != []
    asyncio.run(backend.close())
    assert run_objects(docker_client, backend.run_id) == []


def _harness_run(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--backend", "docker", "--out", str(out), *extra],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_harness_run_docker_kv_partition_kill_pause_is_valid(
    node_image: str, docker_client: Any, cleanup_runs: list[str], tmp_path: Path
) -> None:
    """`harness run --backend docker` under partition, kill and pause ends valid (exit 0),
    with the report and every node's log in the run folder and nothing left running."""
    process = _harness_run(
        tmp_path,
        *("--workload", "kv", "--nemesis", "partition,kill,pause", "--time-limit", "24"),
        *("--nemesis-quiet", "1,2", "--nemesis-fault", "3,5", "--seed", "7"),
    )
    _, stderr = process.communicate(timeout=240)
    run_id = re.search(r"sinkron\.run=(\w+)", stderr)
    assert run_id, stderr
    cleanup_runs.append(run_id.group(1))
    assert process.returncode == 0, stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    metadata = json.loads((run_dir / "run.json").read_text())
    kinds = {event["kind"] for event in metadata["nemesis_events"]}
    assert kinds == {"partition", "kill", "pause"}, metadata["nemesis_events"]
    assert not [e for e in metadata["nemesis_events"] if "error" in str(e["value"])]
    assert sorted(p.name for p in (run_dir / "nodes").iterdir()) == ["n1.log", "n2.log", "n3.log"]
    assert (run_dir / "report.md").exists()
    assert run_objects(docker_client, run_id.group(1)) == []


def test_ctrl_c_during_a_docker_run_removes_every_container_and_network(
    node_image: str, docker_client: Any, cleanup_runs: list[str], tmp_path: Path
) -> None:
    """SIGINT in the middle of the workload still removes the run's containers and network."""
    process = _harness_run(tmp_path, "--workload", "kv", "--nemesis", "kill", "--time-limit", "60")
    assert process.stderr is not None
    lines: list[str] = []
    run_id = None
    deadline = time.monotonic() + 120
    for line in process.stderr:
        lines.append(line)
        if match := re.search(r"sinkron\.run=(\w+)", line):
            run_id = match.group(1)
            cleanup_runs.append(run_id)
        if line.startswith("cluster up") or time.monotonic() > deadline:
            break
    assert run_id is not None, "".join(lines)
    assert run_objects(docker_client, run_id) != []
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=90)
    assert run_objects(docker_client, run_id) == []
