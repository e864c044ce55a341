"""The lock and fenced-register HTTP API on a real 3-node cluster (API.md /locks, /fenced)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.runtime.cluster import LocalCluster, http


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    nodes = LocalCluster(Path(tmp_path_factory.mktemp("lock-cluster"))).start()
    nodes.leader()
    try:
        yield nodes
    finally:
        nodes.close()


def _acquire(
    cluster: LocalCluster, node: str, name: str, owner: str, **fields: Any
) -> tuple[int, Any]:
    body = {"owner": owner, "mode": "exclusive", "ttl_ms": 10_000, "wait_ms": 0, **fields}
    timeout = 10 + body["wait_ms"] / 1000 if isinstance(body["wait_ms"], int) else 10
    return http("POST", f"{cluster.url(node)}/locks/{name}/acquire", body, timeout=timeout)


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def test_acquire_keepalive_release_round_trip_through_a_follower(cluster: LocalCluster) -> None:
    """A follower forwards: grant with token, keepalive, GET shows the holder, release frees."""
    follower = next(n for n in cluster.ids if n != cluster.leader())
    status, grant = _acquire(cluster, follower, "basic", "alice", ttl_ms=5000)
    assert status == 200 and grant["mode"] == "exclusive" and isinstance(grant["token"], int)
    url = f"{cluster.url(follower)}/locks/basic"
    status, alive = http("POST", url + "/keepalive", {"owner": "alice", "token": grant["token"]})
    assert status == 200 and alive["expires_at_ms"] >= grant["expires_at_ms"]
    status, view = http("GET", url)
    assert status == 200 and [h["owner"] for h in view["holders"]] == ["alice"]
    assert http("POST", url + "/release", {"owner": "alice", "token": grant["token"] - 1})[0] == 409
    assert http("POST", url + "/release", {"owner": "alice", "token": grant["token"]})[0] == 200
    assert http("GET", url)[1]["holders"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"owner": 7, "mode": "exclusive", "ttl_ms": 10, "wait_ms": 0}, "owner"),
        ({"owner": "a", "mode": "write", "ttl_ms": 10, "wait_ms": 0}, "mode"),
        ({"owner": "a", "mode": "shared", "ttl_ms": -1, "wait_ms": 0}, "ttl_ms"),
        ({"owner": "a", "mode": "shared", "ttl_ms": 10, "wait_ms": "soon"}, "wait_ms"),
        ({"owner": "a", "mode": "shared", "ttl_ms": 10}, "wait_ms"),
    ],
)
def test_malformed_acquire_is_400_naming_the_field(
    cluster: LocalCluster, body: dict, field: str
) -> None:
    """API.md: malformed input is 400 with the field named."""
    status, reply = http("POST", f"{cluster.url('n1')}/locks/bad/acquire", body)
    assert status == 400 and reply.get("field") == field, reply


def test_try_lock_on_a_held_lock_is_408(cluster: LocalCluster) -> None:
    """wait_ms 0 answers at once with 408 when the lock is taken."""
    assert _acquire(cluster, "n1", "busy", "holder")[0] == 200
    started = time.monotonic()
    assert _acquire(cluster, "n2", "busy", "other")[0] == 408
    assert time.monotonic() - started < 3


def test_waiting_acquire_is_granted_when_the_holder_releases(cluster: LocalCluster) -> None:
    """A queued acquire wakes up with a larger token as soon as the release is applied."""
    status, first = _acquire(cluster, "n1", "handoff", "first")
    thread, out = _in_thread(lambda: _acquire(cluster, "n3", "handoff", "second", wait_ms=8000))
    time.sleep(0.5)
    assert thread.is_alive()
    started = time.monotonic()
    http(
        "POST",
        f"{cluster.url('n2')}/locks/handoff/release",
        {"owner": "first", "token": first["token"]},
    )
    thread.join(10)
    status, second = out[0]
    assert status == 200 and second["token"] > first["token"]
    assert time.monotonic() - started < 3


def test_waiting_acquire_times_out_with_408_and_leaves_no_waiter(cluster: LocalCluster) -> None:
    """The wait ends after about wait_ms; the cancelled request is gone from the queue."""
    assert _acquire(cluster, "n1", "slow", "keeper")[0] == 200
    started = time.monotonic()
    assert _acquire(cluster, "n2", "slow", "impatient", wait_ms=700)[0] == 408
    assert 0.6 < time.monotonic() - started < 5
    assert http("GET", f"{cluster.url('n1')}/locks/slow")[1]["waiters"] == []


def test_expired_lease_passes_the_lock_to_the_waiter(cluster: LocalCluster) -> None:
    """Leases end on log time: the leader's ticks expire a silent holder without any client call."""
    status, dead = _acquire(cluster, "n1", "lease", "crashed", ttl_ms=400)
    assert status == 200
    status, alive = _acquire(cluster, "n2", "lease", "waiting", wait_ms=8000)
    assert status == 200 and alive["token"] > dead["token"]
    keepalive = {"owner": "crashed", "token": dead["token"]}
    assert http("POST", f"{cluster.url('n3')}/locks/lease/keepalive", keepalive)[0] == 409


def test_deadlock_is_refused_at_once_naming_both_owners_and_the_other_wait_survives(
    cluster: LocalCluster,
) -> None:
    """A holds x and waits for y; B holds y; B's acquire of x is 409 naming B and A; A then gets y."""
    assert _acquire(cluster, "n1", "dx", "A")[0] == 200
    status, b_grant = _acquire(cluster, "n2", "dy", "B")
    thread, out = _in_thread(lambda: _acquire(cluster, "n3", "dy", "A", wait_ms=8000))
    time.sleep(0.5)
    started = time.monotonic()
    status, refusal = _acquire(cluster, "n2", "dx", "B", wait_ms=8000)
    assert status == 409 and refusal["error"] == "deadlock" and refusal["cycle"] == ["B", "A"]
    assert time.monotonic() - started < 3
    assert thread.is_alive(), "A's wait must be undisturbed by the refusal"
    http("POST", f"{cluster.url('n1')}/locks/dy/release", {"owner": "B", "token": b_grant["token"]})
    thread.join(10)
    assert out and out[0][0] == 200


def test_fenced_register_refuses_a_stale_token(cluster: LocalCluster) -> None:
    """PUT /fenced with a token below the highest seen is 409 fenced; the value is unchanged."""
    url = f"{cluster.url('n2')}/fenced/account"
    assert http("PUT", url, {"value": [1], "token": 50}) == (200, {"token": 50})
    status, reply = http("PUT", url, {"value": [2], "token": 40})
    assert status == 409 and reply["error"] == "fenced" and reply["highest"] == 50
    assert http("POST", url + "/read", {"token": 60}) == (200, {"value": [1], "token": 60})
    assert http("PUT", url, {"value": [3], "token": 50})[0] == 409
    assert http("GET", url) == (200, {"value": [1], "token": 60})
    assert http("PUT", url, {"value": 1, "token": "x"})[1]["field"] == "token"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/locks/big/release", {"owner": "a", "token": 2**70}),
        ("POST", "/locks/big/keepalive", {"owner": "a", "token": -(2**70)}),
        ("PUT", "/fenced/big", {"value": 1, "token": 2**64}),
        ("POST", "/fenced/big/read", {"token": -(2**64)}),
    ],
)
def test_token_too_large_for_the_log_is_400(
    cluster: LocalCluster, method: str, path: str, body: dict
) -> None:
    """An integer the log's encoding cannot carry is the client's error, named, not a 500."""
    status, reply = http(method, cluster.url("n2") + path, body)
    assert status == 400 and reply["field"] == "token", reply


_json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=60),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_fields = st.sampled_from(["owner", "mode", "ttl_ms", "wait_ms", "token", "value"])
_paths = st.sampled_from(
    [
        "/locks/fz/acquire",
        "/locks/fz/release",
        "/locks/fz/keepalive",
        "/fenced/fz",
        "/fenced/fz/read",
    ]
)


@settings(max_examples=40)
@given(path=_paths, body=st.dictionaries(_fields, _json_values, max_size=6))
def test_fuzzed_lock_and_fenced_bodies_never_crash_the_node(
    cluster: LocalCluster, path: str, body: dict[str, Any]
) -> None:
    """Any JSON body gets a well-formed answer (200/400/404/408/409), never a 5xx or a dead node."""
    method = "PUT" if path == "/fenced/fz" else "POST"
    status, reply = http(method, cluster.url("n1") + path, body, timeout=10)
    assert status in (200, 400, 404, 408, 409), (status, reply)
    if status == 400:
        assert reply.get("field") in ("owner", "mode", "ttl_ms", "wait_ms", "token", "value"), reply
