"""The ssh backend drives real sshd hosts (containers started by the test) to a valid run.

ssh_testhosts.create starts three sshd containers from the offline base image
(ports on 127.0.0.1 only); `harness run --backend ssh --hosts FILE` uploads the
wheelhouse, installs it on each host, and runs the kv workload under partitions
(iptables on the sending host) and kills (SIGKILL to the node's pid).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.containers.conftest import run_objects

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_harness_run_over_ssh_kv_partition_kill_is_valid(
    docker_client: Any, tmp_path: Path
) -> None:
    """A run over ssh under partition and kill is valid, logs are fetched, hosts are removed."""
    from harness.backends import ssh_testhosts
    from harness.commands.image import ensure_base_image

    ensure_base_image(None)  # the sshd hosts run the debootstrap base (built if missing)
    hosts = ssh_testhosts.create(3)
    try:
        result = subprocess.run(
            [
                *(sys.executable, "-m", "harness", "run", "--backend", "ssh"),
                *("--hosts", str(hosts.hosts_file), "--workload", "kv"),
                *("--nemesis", "partition,kill", "--time-limit", "20", "--seed", "11"),
                *("--nemesis-quiet", "1,2", "--nemesis-fault", "3,5", "--out", str(tmp_path)),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        hosts.destroy()
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    events = json.loads((run_dir / "run.json").read_text())["nemesis_events"]
    assert {event["kind"] for event in events} == {"partition", "kill"}, events
    assert not [event for event in events if "error" in str(event["value"])], events
    for node in ("n1", "n2", "n3"):
        assert "serving http://" in (run_dir / "nodes" / f"{node}.log").read_text()
    assert run_objects(docker_client, hosts.run_id) == []
    assert not hosts.workdir.exists()
