"""`harness cluster up|down` as the acceptance scripts drive it, with fake nodes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness.commands.cluster import _same_process_alive

REPO = Path(__file__).resolve().parents[2]
FAKE_NODE = f"{sys.executable} {Path(__file__).with_name('fake_node.py')}"


def start_up(data: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "harness", "cluster", "up", "--nodes", "3"]
    command += ["--base-port", "0", "--data", str(data), "--node-command", FAKE_NODE]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def wait_for_urls(log: Path, count: int, timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        urls = re.findall(r"^n\d+ (http://127\.0\.0\.1:\d+)$", log.read_text(), re.MULTILINE)
        if len(urls) >= count:
            return urls
        time.sleep(0.1)
    raise AssertionError(f"no {count} node URLs in time:\n{log.read_text()}")


def node_pids(data: Path) -> list[tuple[int, str]]:
    nodes = json.loads((data / "cluster.json").read_text())["nodes"]
    return [(info["pid"], info["cmdline"]) for info in nodes.values()]


def wait_state_with_nodes(data: Path, timeout_s: float = 10) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pids = node_pids(data)
        except (OSError, ValueError):
            pids = []
        if pids:
            return pids
        time.sleep(0.05)
    raise AssertionError("cluster.json never listed the nodes")


def test_up_prints_healthy_urls_and_down_stops_everything(tmp_path: Path) -> None:
    """up prints one URL per node that answers /health; down stops up and every node."""
    data, log = tmp_path / "data", tmp_path / "up.log"
    up = start_up(data, log)
    try:
        urls = wait_for_urls(log, 3)
        with urllib.request.urlopen(urls[0] + "/health", timeout=2) as response:
            assert json.loads(response.read()) == {"ok": True}
        pids = wait_state_with_nodes(data)
        down = subprocess.run(
            [sys.executable, "-m", "harness", "cluster", "down", "--data", str(data)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert up.wait(timeout=20) == 0
        assert not any(_same_process_alive(pid, cmdline) for pid, cmdline in pids)
        assert not (data / "cluster.json").exists()
    finally:
        if up.poll() is None:
            up.kill()


def test_sigterm_to_up_stops_the_nodes_and_down_then_finds_nothing(tmp_path: Path) -> None:
    """SIGTERM to up stops every node and exits 0; a later down exits 0 and says so."""
    data, log = tmp_path / "data", tmp_path / "up.log"
    up = start_up(data, log)
    try:
        wait_for_urls(log, 3)
        pids = wait_state_with_nodes(data)
        os.kill(up.pid, signal.SIGTERM)
        assert up.wait(timeout=20) == 0
        assert not any(_same_process_alive(pid, cmdline) for pid, cmdline in pids)
        down = subprocess.run(
            [sys.executable, "-m", "harness", "cluster", "down", "--data", str(data)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert down.returncode == 0 and "nothing is running" in down.stdout
    finally:
        if up.poll() is None:
            up.kill()
