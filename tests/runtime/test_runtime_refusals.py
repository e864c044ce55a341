"""What a node refuses, and how: a taken peer port, a follower asked for a membership change,
a damaged log entry (each found by trying the documented behaviour for real)."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

from tests.runtime.cluster import LocalCluster, http, run_node_once


def test_peer_port_taken_exits_1_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    """docs/configuration.md: a taken listener port is exit 1 with a message naming the port.

    The HTTP listener does this; the peer listener raised an uncaught OSError
    (a traceback) from impl/runtime/__main__.py's serve().
    """
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "SINKRON_NODE_ID": "n1",
            "SINKRON_PEERS": f"n1=127.0.0.1:{port},n2=127.0.0.1:1",
            "SINKRON_CLUSTER_SECRET": "s",
            "SINKRON_DATA_DIR": str(tmp_path / "data"),
            "SINKRON_HTTP_PORT": "0",
        }
        result = run_node_once(env, tmp_path)
    assert result.returncode == 1
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr


def test_follower_refusing_a_membership_change_names_the_leader(tmp_path: Path) -> None:
    """docs/http-api.md and api/members.py: a follower answers 503 with ``leader``.

    api/members.py's _must_lead reads ``host.leader_id``, which the Node does not
    have, so the hint was always missing.
    """
    cluster = LocalCluster(tmp_path, nodes=3).start()
    try:
        leader = cluster.leader()
        follower = next(n for n in cluster.ids if n != leader)
        status, body = http(
            "POST",
            cluster.url(follower) + "/cluster/members",
            {"id": "n9", "peer_address": "127.0.0.1:1"},
        )
        assert status == 503, body
        assert body.get("leader") == leader, body
    finally:
        cluster.close()


def test_undecodable_log_entry_is_not_silently_skipped(tmp_path: Path) -> None:
    """A damaged log entry must stop the node, not be skipped while it keeps serving.

    SQLite keeps no checksum of a row's payload, so bytes damaged inside a
    blob pass PRAGMA quick_check. impl/runtime/node.py's _apply_command logged
    "entry N is not a command" and went on, so this replica's state machine
    silently diverged from the others (and would serve that state as leader).
    Expected: refuse to start naming the entry (exit 1), or fail-stop (exit 70).
    """
    cluster = LocalCluster(tmp_path, nodes=1).start()
    try:
        url = cluster.url("n1")
        cluster.leader()
        assert http("PUT", url + "/kv/a", {"value": 1})[0] == 200
        assert http("PUT", url + "/kv/a", {"value": 2})[0] == 200
        assert cluster.stop("n1") == 0
        db = sqlite3.connect(tmp_path / "n1" / "sinkron.db")
        (index,) = db.execute("SELECT max(idx) FROM log WHERE kind = 'normal'").fetchone()
        db.execute("UPDATE log SET data = x'c1c1c1' WHERE idx = ?", (index,))
        db.commit()
        db.close()
        cluster.start_node("n1")
        process = cluster.processes["n1"]
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.poll() not in (None, 0), (
            "node kept running on a log with an undecodable entry: " + cluster.log("n1")[-1500:]
        )
        assert f"entry {index}" in cluster.log("n1") or f"index {index}" in cluster.log("n1")
    finally:
        cluster.close()
