"""Adding and removing a node the documented way keeps the history linearizable and loses no
acknowledged write, while clients keep reading, writing and cas-ing.

The documented path (docs/containers.md): ``docker compose --profile scale up -d node4``
starts n4 with SINKRON_JOIN=1; ``harness cluster add-node n4 node4:7100`` adds it as a
learner on the leader and promotes it once it has caught up; ``harness cluster remove-node
n4`` removes it; ``docker compose stop node4``. All the while the kv workload runs against
node1..node3 through the same workers, recorder and client as ``harness run``; then every key
is read once more, and the history goes through the linearizability checker (model kv) and
the lost-write audit. The compose project gets its own name and free host ports, so the test
runs next to anything else on the machine.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.backends.ports import free_ports
from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.client.async_client import AsyncClient
from harness.history.ops import Op, OpType
from harness.report.results_json import client_ops
from harness.run.audit import lost_acknowledged_writes
from harness.run.recorder import Recorder
from harness.run.workers import ProcessIds, run_one, run_workers
from harness.workloads.kv import KvWorkload

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]  # may include a fresh image build
REPO_ROOT = Path(__file__).resolve().parents[2]
VOTERS = ("n1", "n2", "n3")


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


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )


async def _status(client: AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        return await client.status(url)
    except Exception:  # not answering (yet) is an answer here
        return None


async def _until(what: str, probe: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := await probe():
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


async def _scenario(compose: Compose, history: Path) -> tuple[list[Op], dict[str, Any]]:
    """The membership change under load; returns the history and what each step said."""
    urls = ",".join(compose.url(node) for node in VOTERS)
    workload = KvWorkload()
    recorder = Recorder(history)
    clients = [
        AsyncClient([compose.url(VOTERS[i % 3])], timeout_s=2.0, retries=1, prefer_leader=False)
        for i in range(6)
    ]
    probe = AsyncClient([compose.url(node) for node in VOTERS], timeout_s=2.0)
    steps: dict[str, Any] = {}

    async def leader_status() -> dict[str, Any] | None:
        for node in VOTERS:
            status = await _status(probe, compose.url(node))
            if status and status.get("role") == "leader":
                return status
        return None

    await _until("a leader", leader_status)
    stop = asyncio.Event()
    process_ids = ProcessIds()
    workers = asyncio.create_task(
        run_workers(
            workload=workload,
            clients=clients,
            recorder=recorder,
            process_ids=process_ids,
            rate_per_s=150,
            rng=random.Random(6),
            should_stop=stop.is_set,
        )
    )
    try:
        await asyncio.sleep(2)
        steps["change_start_ns"] = recorder.now_ns()
        await asyncio.to_thread(compose, "up", "-d", "node4")
        steps["add"] = await asyncio.to_thread(
            _harness, "cluster", "add-node", "n4", "node4:7100", "--urls", urls
        )

        # n4 applies what the leader had committed once the promotion was done: it replicates.
        target = (await _until("a leader", leader_status))["commit_index"]

        async def n4_serving() -> dict[str, Any] | None:
            status = await _status(probe, compose.url("n4"))
            if status and "n4" in status["members"] and status["applied_index"] >= target:
                return status
            return None

        steps["n4"] = await _until("n4 is a voter and applies the log", n4_serving)
        await asyncio.sleep(3)  # writes committed by a quorum of four
        steps["remove"] = await asyncio.to_thread(
            _harness, "cluster", "remove-node", "n4", "--urls", urls
        )
        await asyncio.sleep(3)  # and of three again
        steps["change_end_ns"] = recorder.now_ns()
    finally:
        stop.set()
        await workers
        for client in clients:
            await client.close()
    await asyncio.to_thread(compose, "stop", "node4")
    steps["final_status"] = await _until("a leader after removal", leader_status)

    reader = AsyncClient(
        [compose.url(node) for node in VOTERS], timeout_s=3.0, retries=3, prefer_leader=True
    )
    try:
        for operation in workload.final_ops():
            for _ in range(10):
                if (
                    await run_one(workload, reader, recorder, process_ids.next(), operation)
                    is OpType.OK
                ):
                    break
                await asyncio.sleep(0.5)
    finally:
        await reader.close()
        await probe.close()
        recorder.close()
    return recorder.ops, steps


def test_adding_and_removing_a_node_under_load_is_linearizable_and_loses_no_acknowledged_write(
    node_image: str, tmp_path: Path
) -> None:
    """The documented add-node / remove-node path under a kv workload: a valid history."""
    compose = Compose(node_image, tmp_path)
    try:
        compose("up", "-d", "node1", "node2", "node3")
        ops, steps = asyncio.run(_scenario(compose, tmp_path / "history.jsonl"))
    finally:
        compose("down", "-v", "--remove-orphans")

    assert steps["add"].returncode == 0, steps["add"].stderr
    assert "n4 is a voter" in steps["add"].stdout, steps["add"].stdout
    assert steps["remove"].returncode == 0, steps["remove"].stderr
    assert "n4 is not a member" in steps["remove"].stdout, steps["remove"].stdout
    assert steps["final_status"]["members"] == list(VOTERS), steps["final_status"]
    assert steps["final_status"]["learners"] == [], steps["final_status"]

    client = client_ops(ops)
    acknowledged = [op for op in client if op.type is OpType.OK and op.f in {"write", "cas"}]
    during = [
        op for op in acknowledged if steps["change_start_ns"] <= op.time <= steps["change_end_ns"]
    ]
    # Load that means something, and writes that kept succeeding while the membership changed.
    assert len(acknowledged) > 300, f"only {len(acknowledged)} acknowledged writes"
    assert len(during) > 100, f"only {len(during)} writes acknowledged during the change"
    final_reads = [op for op in client[-20:] if op.f == "read" and op.type is OpType.OK]
    assert {op.key for op in final_reads} == set(KvWorkload().keys), "a final read never succeeded"

    assert lost_acknowledged_writes(ops) == []
    result = check_linearizable(client, "kv", timeout_s=120)
    assert result.verdict is Verdict.OK, (result.verdict, result.reasons, tmp_path)
