"""The ssh backend drives real sshd hosts (containers started by the test) through every fault.

ssh_testhosts.create starts three sshd containers from the offline base image
(ports on 127.0.0.1 only, a fresh key); the backend uploads the wheelhouse, installs it
on each host, and breaks the cluster with iptables on the sending host (partitions),
signals to the node's pid (kill, pause) and the node's test-hook clock. One set of hosts
serves both tests of this module; it is removed at the end, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import ClusterSpec
from tests.containers.conftest import (
    get_json,
    leader_among,
    node_status,
    run_objects,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]  # may include a fresh image build
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ssh_hosts(docker_client: Any) -> Iterator[Any]:
    from harness.backends import ssh_testhosts
    from harness.commands.image import ensure_base_image

    ensure_base_image(None)  # the sshd hosts run the debootstrap base (built if missing)
    hosts = ssh_testhosts.create(3)
    try:
        yield hosts
    finally:
        hosts.destroy()
    assert run_objects(docker_client, hosts.run_id) == []
    assert not hosts.workdir.exists()


def test_harness_run_over_ssh_kv_partition_kill_is_valid(ssh_hosts: Any, tmp_path: Path) -> None:
    """A run over ssh under partition and kill is valid and every node's log is fetched."""
    result = subprocess.run(
        [
            *(sys.executable, "-m", "harness", "run", "--backend", "ssh"),
            *("--hosts", str(ssh_hosts.hosts_file), "--workload", "kv"),
            *("--nemesis", "partition,kill", "--time-limit", "20", "--seed", "11"),
            *("--nemesis-quiet", "1,2", "--nemesis-fault", "3,5", "--out", str(tmp_path)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    events = json.loads((run_dir / "run.json").read_text())["nemesis_events"]
    assert {event["kind"] for event in events} == {"partition", "kill"}, events
    assert not [event for event in events if "error" in str(event["value"])], events
    for node in ("n1", "n2", "n3"):
        assert "serving http://" in (run_dir / "nodes" / f"{node}.log").read_text()


def test_ssh_backend_partition_kill_pause_clock_and_logs_reach_the_hosts(
    ssh_hosts: Any, tmp_path: Path
) -> None:
    """Partitions cut peer traffic, kill + restart resumes from the host's disk, pause
    freezes the node, the clock offset reaches its test hook, logs are fetched, and close
    stops every node."""
    from harness.backends.ssh import CHAIN, SshBackend

    backend = SshBackend(ClusterSpec(nodes=3, run_dir=tmp_path), ssh_hosts.hosts)

    async def serving_lines(node: str) -> int:
        await backend.collect_logs(tmp_path / "logs")
        return (tmp_path / "logs" / f"{node}.log").read_text().count("serving http://")

    async def faults() -> None:
        nodes = backend.node_ids
        url = backend.client_url
        await backend.start()
        leader = await wait_until(lambda: leader_among(backend, nodes), "a first leader")

        # Partition: isolate the leader both ways; the other two elect a new leader.
        others = [node for node in nodes if node != leader]
        await backend.partition({(leader, o) for o in others} | {(o, leader) for o in others})
        rules = await backend._run(leader, f"iptables -S {CHAIN}")
        assert rules.count("-j DROP") == 2, rules
        new_leader = await wait_until(
            lambda: leader_among(backend, others), "the majority side elects a leader"
        )
        isolated, majority = await node_status(url(leader)), await node_status(url(new_leader))
        assert isolated and majority and isolated["term"] < majority["term"], (isolated, majority)
        await backend.heal()
        assert "DROP" not in await backend._run(leader, f"iptables -S {CHAIN}")
        await wait_until(lambda: leader_among(backend, nodes), "one leader after healing")

        # Kill + restart: the node comes back with its term from the host's disk.
        victim = others[0]
        before = await node_status(url(victim))
        starts = await serving_lines(victim)
        await backend.kill_node(victim)

        async def gone() -> bool:
            return await node_status(url(victim)) is None

        await wait_until(gone, "the killed node stops answering", timeout_s=5)
        await backend.start_node(victim)
        after = await node_status(url(victim))
        assert before and after and after["term"] >= before["term"] > 0, (before, after)
        assert await serving_lines(victim) == starts + 1

        # Pause freezes the process (no answer), resume thaws it.
        await backend.pause_node(victim)
        assert await node_status(url(victim)) is None
        await backend.resume_node(victim)
        await wait_until(lambda: node_status(url(victim)), "answers after resume")

        # Clock offset through the test hook.
        await backend.set_clock_offset(victim, 1500)
        assert (await get_json(url(victim) + "/_test/clock"))["offset_ms"] == 1500

    async def scenario() -> None:
        try:
            await faults()
        finally:
            await backend.close()  # on the same loop: its ssh connections belong to it

    asyncio.run(scenario())

    async def all_stopped() -> bool:
        return all([await node_status(backend.client_url(n)) is None for n in backend.node_ids])

    assert asyncio.run(wait_until(all_stopped, "every node stopped after close", timeout_s=10))
