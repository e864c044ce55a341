"""Real node processes on 127.0.0.1: forwarding, crash safety, hostile clients."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.cluster import LocalCluster, http

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    running = LocalCluster(tmp_path_factory.mktemp("cluster3")).start()
    yield running
    running.close()


def _followers(cluster: LocalCluster) -> list[str]:
    leader = cluster.leader()
    return [n for n in cluster.ids if n != leader]


def test_followers_serve_writes_reads_and_cas_by_forwarding(cluster: LocalCluster) -> None:
    """Any node answers any request: a follower forwards to the leader and relays the result."""
    a, b = _followers(cluster)
    assert http("PUT", cluster.url(a) + "/kv/fwd", {"value": {"x": [1, 2]}}) == (
        200,
        {"value": {"x": [1, 2]}},
    )
    assert http("GET", cluster.url(b) + "/kv/fwd") == (200, {"value": {"x": [1, 2]}})
    status, body = http("POST", cluster.url(b) + "/kv/fwd/cas", {"expected": 0, "value": 1})
    assert (status, body["error"], body["current"]) == (409, "cas-mismatch", {"x": [1, 2]})
    assert http(
        "POST", cluster.url(a) + "/kv/fwd/cas", {"expected": {"x": [1, 2]}, "value": 3}
    ) == (
        200,
        {"value": 3},
    )
    assert http("GET", cluster.url(cluster.leader()) + "/kv/fwd") == (200, {"value": 3})
    status, body = http("GET", cluster.url(a) + "/kv/never-written")
    assert (status, body["error"]) == (404, "not-found")


def test_status_reports_the_raft_view(cluster: LocalCluster) -> None:
    """/status carries the fields API.md lists, and members are the three nodes."""
    status, body = http("GET", cluster.url("n1") + "/status")
    assert status == 200
    assert {"id", "role", "term", "leader", "commit_index", "applied_index", "members"} <= set(body)
    assert body["members"] == ["n1", "n2", "n3"]


def test_integers_of_any_size_are_stored_exactly(cluster: LocalCluster) -> None:
    """JSON integers are unbounded: a 100-bit value written through a follower reads back equal."""
    huge = 2**100 + 1
    status, _ = http("PUT", cluster.url("n2") + "/kv/huge", {"value": [huge, -huge]})
    assert status == 200
    status, body = http("GET", cluster.url("n3") + "/kv/huge")
    assert (status, body) == (200, {"value": [huge, -huge]})


@pytest.mark.parametrize(
    ("method", "path", "raw", "field"),
    [
        ("PUT", "/kv/k", b"{not json", "body"),
        ("PUT", "/kv/k", b"[1, 2]", "body"),
        ("PUT", "/kv/k", b'{"valu": 1}', "value"),
        ("PUT", "/kv/k", b'{"value": NaN}', "body"),
        ("PUT", "/kv/k", b'{"value": 1e400}', "body"),
        ("POST", "/kv/k/cas", b'{"value": 1}', "expected"),
        ("POST", "/kv/k/cas", b'{"expected": 1}', "value"),
        ("PUT", "/kv/k", b"\xff\xfe\x00", "body"),
        ("PUT", "/kv/k", b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b"}", "body"),
        ("PUT", "/kv/k", b'{"value": ' + b"[" * 100 + b"]" * 100 + b"}", "value"),
    ],
)
def test_malformed_bodies_get_400_naming_the_field(
    cluster: LocalCluster, method: str, path: str, raw: bytes, field: str
) -> None:
    """Bad input is the client's fault: 400 JSON naming the field, and the node stays up."""
    status, body = http(method, cluster.url("n2") + path, raw=raw)
    assert status == 400
    assert body["error"] == "bad-request" and body["field"] == field
    assert http("GET", cluster.url("n2") + "/health") == (200, {"ok": True})


def test_unknown_routes_and_methods_answer_json(cluster: LocalCluster) -> None:
    """Unknown paths are 404 and wrong methods 405, both as JSON errors."""
    assert http("GET", cluster.url("n1") + "/nope")[1]["error"] == "not-found"
    status, body = http("DELETE", cluster.url("n1") + "/kv/x")
    assert (status, body["error"]) == (405, "method-not-allowed")


def test_test_hooks_are_404_without_the_setting(cluster: LocalCluster) -> None:
    """/_test/ routes do not exist unless SINKRON_TEST_HOOKS=1."""
    assert http("GET", cluster.url("n1") + "/_test/clock")[0] == 404
    assert http("PUT", cluster.url("n1") + "/_test/clock", {"offset_ms": 5})[0] == 404


def test_openapi_lists_the_kv_paths_and_no_test_hooks(cluster: LocalCluster) -> None:
    """The served document describes the routes that exist."""
    status, document = http("GET", cluster.url("n3") + "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert {"/kv/{key}", "/kv/{key}/cas", "/status", "/health"} <= set(document["paths"])
    assert "/_test/clock" not in document["paths"]


def test_metrics_expose_raft_and_request_series(cluster: LocalCluster) -> None:
    """Prometheus text carries the role, term, commit index and latency histograms."""
    http("PUT", cluster.url("n1") + "/kv/m", {"value": 1})
    status, text = http("GET", cluster.url(cluster.leader()) + "/metrics")
    assert status == 200
    for series in (
        "sinkron_raft_term",
        "sinkron_raft_commit_index",
        "sinkron_fsync_seconds_bucket",
        "sinkron_group_commit_size_bucket",
        "sinkron_http_request_seconds_bucket",
        'sinkron_raft_role{role="leader"} 1.0',
    ):
        assert series in text


def test_acknowledged_writes_survive_kill_9_of_the_leader(tmp_path: Path) -> None:
    """Every write answered 200 before the leader was SIGKILLed is readable afterwards, everywhere."""
    cluster = LocalCluster(tmp_path).start()
    try:
        leader = cluster.leader()
        acknowledged = {}
        for i in range(30):
            node = cluster.ids[i % 3]
            if http("PUT", f"{cluster.url(node)}/kv/k{i}", {"value": i})[0] == 200:
                acknowledged[f"k{i}"] = i
        assert len(acknowledged) == 30
        cluster.kill(leader)
        survivors = [n for n in cluster.ids if n != leader]
        cluster.leader(among=survivors)
        for key, value in acknowledged.items():
            assert http("GET", f"{cluster.url(survivors[0])}/kv/{key}") == (200, {"value": value})
        cluster.start_node(leader)
        cluster.wait_healthy(leader)
        cluster.leader()
        assert http("PUT", f"{cluster.url(leader)}/kv/after", {"value": "x"})[0] == 200
        for key, value in acknowledged.items():
            assert http("GET", f"{cluster.url(leader)}/kv/{key}") == (200, {"value": value})
        assert cluster.stop(survivors[1]) == 0  # SIGTERM is a clean exit
    finally:
        cluster.close()


def test_sigterm_stops_promptly_when_every_peer_is_gone(tmp_path: Path) -> None:
    """The last node standing exits 0 within seconds of SIGTERM, though its links are down."""
    cluster = LocalCluster(tmp_path).start()
    try:
        leader = cluster.leader()
        assert http("PUT", f"{cluster.url(leader)}/kv/k", {"value": 1})[0] == 200
        for node in [n for n in cluster.ids if n != leader]:
            cluster.kill(node)
        time.sleep(1.0)  # its links notice, redial and back off; it loses leadership
        started = time.monotonic()
        assert cluster.stop(leader) == 0
        assert time.monotonic() - started < 5.0
    finally:
        cluster.close()


def _applied(cluster: LocalCluster, node: str) -> int:
    return int(http("GET", cluster.url(node) + "/status")[1]["applied_index"])


def test_lagging_follower_catches_up_from_a_snapshot_and_restarts_from_it(tmp_path: Path) -> None:
    """With compaction on, a follower that missed the compacted prefix is sent a snapshot,
    applies it, and after a restart recovers from its own stored snapshot."""
    import time

    cluster = LocalCluster(tmp_path, env={"SINKRON_SNAPSHOT_ENTRIES": "20"}).start()
    try:
        leader = cluster.leader()
        lagging = next(n for n in cluster.ids if n != leader)
        assert cluster.stop(lagging) == 0
        for i in range(60):
            assert http("PUT", f"{cluster.url(leader)}/kv/s{i}", {"value": i})[0] == 200
        cluster.start_node(lagging)
        cluster.wait_healthy(lagging)
        target = _applied(cluster, leader)
        deadline = time.monotonic() + 15
        while _applied(cluster, lagging) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _applied(cluster, lagging) >= target
        assert "snapshot" in cluster.log(leader).lower()
        assert cluster.stop(lagging) == 0
        cluster.start_node(lagging)
        cluster.wait_healthy(lagging)
        assert "installing the leader's snapshot" in cluster.log(lagging)
        recovered = [line for line in cluster.log(lagging).splitlines() if "recovered" in line]
        assert len(recovered) == 3 and "snapshot=0 " not in recovered[-1]
        deadline = time.monotonic() + 15
        while _applied(cluster, lagging) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _applied(cluster, lagging) >= target
        cluster.kill(leader)
        new_leader = cluster.leader(among=[n for n in cluster.ids if n != leader])
        for i in (0, 33, 59):
            assert http("GET", f"{cluster.url(new_leader)}/kv/s{i}") == (200, {"value": i})
    finally:
        cluster.close()


def test_joining_node_is_added_promoted_and_removed(tmp_path: Path) -> None:
    """A node started with SINKRON_JOIN=1 becomes a voter through POST /cluster/members,
    receives the log, and leaves the membership through DELETE."""
    import time

    cluster = LocalCluster(tmp_path).start()
    try:
        leader = cluster.leader()
        assert http("PUT", f"{cluster.url(leader)}/kv/before", {"value": 1})[0] == 200
        cluster.add_joining_node("n4")
        assert http("GET", cluster.url("n4") + "/status")[1]["members"] == []
        address = f"127.0.0.1:{cluster.peer_ports['n4']}"
        status, body = http(
            "POST",
            cluster.url(leader) + "/cluster/members",
            {"id": "n4", "peer_address": address, "promote": True},
            timeout=15,
        )
        assert (status, body["voter"]) == (200, True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            view = http("GET", cluster.url("n4") + "/status")[1]
            if view["members"] == ["n1", "n2", "n3", "n4"] and view["leader"] == leader:
                break
            time.sleep(0.05)
        assert view["members"] == ["n1", "n2", "n3", "n4"]
        assert http("GET", cluster.url("n4") + "/kv/before") == (200, {"value": 1})
        status, body = http("POST", cluster.url(leader) + "/cluster/members", {"id": "n5"})
        assert (status, body["field"]) == (400, "peer_address")
        assert http("DELETE", cluster.url(leader) + "/cluster/members/n4", timeout=10)[0] == 200
        assert "n4" not in http("GET", cluster.url(leader) + "/status")[1]["members"]
    finally:
        cluster.close()
