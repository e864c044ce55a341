"""Table tests, one per rule of impl/lock/table.py (Rules 1-8), through the StateMachine interface."""

from __future__ import annotations

from typing import Any

import pytest

import spec.lock as lock_spec
from impl.lock import LockStateMachine
from impl.lock.waitfor import find_any_cycle, find_cycle
from impl.statemachine import Command


class Table:
    """A lock state machine fed with consecutive indexes and an explicit log clock."""

    def __init__(self) -> None:
        self.machine = LockStateMachine()
        self.index = 0
        self.now = 0

    def apply(self, op: dict[str, Any], *, at: int | None = None) -> dict[str, Any]:
        self.index += 1
        if at is not None:
            self.now = at
        return self.machine.apply(self.index, Command(service="lock", op=op, stamp_ms=self.now))

    def acquire(
        self,
        owner: str,
        name: str = "x",
        mode: str = "exclusive",
        *,
        ttl: int = 1000,
        wait: int = 0,
        at: int | None = None,
    ) -> dict[str, Any]:
        op = {
            "f": "acquire",
            "name": name,
            "owner": owner,
            "mode": mode,
            "ttl_ms": ttl,
            "wait_ms": wait,
        }
        return self.apply(op, at=at)

    def release(
        self, owner: str, token: int, name: str = "x", *, at: int | None = None
    ) -> dict[str, Any]:
        return self.apply({"f": "release", "name": name, "owner": owner, "token": token}, at=at)

    def keepalive(
        self, owner: str, token: int, name: str = "x", *, at: int | None = None
    ) -> dict[str, Any]:
        return self.apply({"f": "keepalive", "name": name, "owner": owner, "token": token}, at=at)

    def tick(self, at: int) -> dict[str, Any]:
        return self.apply({"f": "tick"}, at=at)

    def holders(self, name: str = "x") -> dict[str, str]:
        view = self.machine.query({"f": "lock", "name": name})
        return {h["owner"]: h["mode"] for h in view["holders"]}

    def waiters(self, name: str = "x") -> list[str]:
        return [w["owner"] for w in self.machine.query({"f": "lock", "name": name})["waiters"]]


@pytest.fixture
def table() -> Table:
    return Table()


def test_shared_requests_are_granted_together(table: Table) -> None:
    """Rule 1: compatible (shared) requests hold the lock at the same time."""
    assert table.acquire("a", mode="shared")["ok"]
    assert table.acquire("b", mode="shared")["ok"]
    assert table.holders() == {"a": "shared", "b": "shared"}


def test_try_lock_on_a_held_lock_times_out_and_changes_nothing(table: Table) -> None:
    """wait_ms 0 is a try-lock: granted at once or {"error": "timeout"}, never queued."""
    table.acquire("a")
    assert table.acquire("b", wait=0) == {"ok": False, "error": "timeout"}
    assert table.waiters() == []


def test_waiting_exclusive_blocks_later_shared_requests(table: Table) -> None:
    """Rule 2: no writer starvation: a shared request behind a waiting exclusive one queues."""
    table.acquire("a", mode="shared")
    assert table.acquire("w", mode="exclusive", wait=500)["queued"]
    assert table.acquire("r", mode="shared", wait=500)["queued"]
    assert table.waiters() == ["w", "r"]


def test_waiters_are_granted_in_fifo_order_with_the_releasing_entry_as_token(table: Table) -> None:
    """Rules 2 and 5: the head is granted first, by the release, whose index is the new token."""
    token = table.acquire("a")["token"]
    table.acquire("b", wait=500)
    table.acquire("c", wait=500)
    assert table.release("a", token) == {"ok": True}
    assert table.holders() == {"b": "exclusive"}
    state = table.machine.query({"f": "request", "name": "x", "owner": "b", "request": 2})
    assert state["state"] == "held" and state["token"] == table.index
    assert table.waiters() == ["c"]


def test_release_wakes_every_compatible_shared_waiter_with_distinct_tokens(table: Table) -> None:
    """Rule 5: one entry granting several waiters still hands out strictly increasing tokens."""
    token = table.acquire("a")["token"]
    table.acquire("b", mode="shared", wait=500)
    table.acquire("c", mode="shared", wait=500)
    table.release("a", token)
    tokens = [h["token"] for h in table.machine.query({"f": "lock", "name": "x"})["holders"]]
    assert tokens == [table.index, table.index + 1]


def test_lease_expires_at_log_time_and_the_waiter_gets_the_lock(table: Table) -> None:
    """Rule 3: expiry is decided by log time (stamps), and frees the lock for the next waiter."""
    first = table.acquire("a", ttl=100, at=0)
    table.acquire("b", ttl=100, wait=1000, at=10)
    table.tick(at=99)
    assert table.holders() == {"a": "exclusive"}
    table.tick(at=100)
    assert table.holders() == {"b": "exclusive"}
    assert table.keepalive("a", first["token"]) == {"ok": False, "error": "not-held"}


def test_keepalive_extends_the_lease_from_the_current_log_time(table: Table) -> None:
    """Rule 3: keepalive sets expires_at to log time + ttl."""
    token = table.acquire("a", ttl=100, at=0)["token"]
    assert table.keepalive("a", token, at=90) == {"ok": True, "token": token, "expires_at_ms": 190}
    table.tick(at=150)
    assert table.holders() == {"a": "exclusive"}


def test_log_time_never_goes_backwards(table: Table) -> None:
    """A stamp older than log time (a new leader whose clock lags) does not move time back."""
    table.acquire("a", ttl=100, at=500)
    assert table.tick(at=10) == {"ok": True, "log_time_ms": 500}


def test_waiter_whose_wait_ran_out_is_never_granted(table: Table) -> None:
    """Rule 4 (the etcd 3.4.3 bug): a request that gave up is dropped before any grant is made."""
    token = table.acquire("a", ttl=1000, at=0)["token"]
    table.acquire("b", wait=50, at=0)
    table.release("a", token, at=50)  # b's deadline is 50: it has given up when the lock frees
    assert table.holders() == {}
    assert table.machine.query({"f": "request", "name": "x", "owner": "b", "request": 2}) == {
        "ok": True,
        "state": "gone",
    }


def test_waiter_timeout_leaves_no_wait_for_edge(table: Table) -> None:
    """Rule 4 with Rule 7: a waiter dropped by its deadline takes its wait-for edge with it."""
    table.acquire("a", at=0)
    table.acquire("b", wait=50, at=0)
    assert table.machine.table.wait_for_graph() == {"b": {"a"}}
    table.tick(at=50)
    assert table.machine.table.wait_for_graph() == {}
    # Now a may wait for something b holds without any deadlock being reported.
    table.acquire("b", name="y")
    assert table.acquire("a", name="y", wait=100)["queued"]


def test_stale_token_is_not_held_and_never_frees_the_new_holder(table: Table) -> None:
    """Rule 5: release or keepalive with an earlier grant's token changes nothing."""
    old = table.acquire("a", ttl=10, at=0)["token"]
    table.tick(at=10)
    new = table.acquire("b", at=10)["token"]
    assert new > old
    assert table.release("a", old) == {"ok": False, "error": "not-held"}
    assert table.release("b", old) == {"ok": False, "error": "not-held"}
    assert table.keepalive("b", old) == {"ok": False, "error": "not-held"}
    assert table.holders() == {"b": "exclusive"}


def test_reacquiring_the_held_mode_returns_the_same_grant_with_a_longer_lease(table: Table) -> None:
    """Rule 6: reentrancy keeps the token and extends the lease to the new ttl."""
    first = table.acquire("a", ttl=100, at=0)
    again = table.acquire("a", ttl=300, at=50)
    assert again["token"] == first["token"] and again["expires_at_ms"] == 350


def test_sole_shared_holder_upgrades_at_once_with_a_new_token(table: Table) -> None:
    """Rule 6: the only shared holder becomes exclusive immediately."""
    first = table.acquire("a", mode="shared")
    upgraded = table.acquire("a", mode="exclusive")
    assert upgraded["ok"] and upgraded["token"] > first["token"]
    assert table.holders() == {"a": "exclusive"}


def test_upgrade_waits_at_the_head_and_keeps_the_shared_grant(table: Table) -> None:
    """Rule 6: with other readers, the upgrader waits first in line, still holding shared."""
    table.acquire("a", mode="shared")
    b_token = table.acquire("b", mode="shared")["token"]
    table.acquire("w", mode="exclusive", wait=500)
    assert table.acquire("a", mode="exclusive", wait=500)["queued"]
    assert table.waiters() == ["a", "w"]
    assert table.holders() == {"a": "shared", "b": "shared"}
    table.release("b", b_token)
    assert table.holders() == {"a": "exclusive"}


def test_two_concurrent_upgraders_are_a_deadlock(table: Table) -> None:
    """Rules 6-7: two shared holders both upgrading wait for each other; the second is refused."""
    table.acquire("a", mode="shared")
    table.acquire("b", mode="shared")
    assert table.acquire("a", mode="exclusive", wait=500)["queued"]
    assert table.acquire("b", mode="exclusive", wait=500) == {
        "ok": False,
        "error": "deadlock",
        "cycle": ["b", "a"],
    }
    assert table.waiters() == ["a"]


def test_downgrade_grants_compatible_waiters(table: Table) -> None:
    """Rule 6: an exclusive holder asking for shared keeps the lock shared and lets readers in."""
    first = table.acquire("a")
    table.acquire("r", mode="shared", wait=500)
    table.acquire("w", mode="exclusive", wait=500)
    down = table.acquire("a", mode="shared")
    assert down["ok"] and down["mode"] == "shared" and down["token"] > first["token"]
    assert table.holders() == {"a": "shared", "r": "shared"}
    assert table.waiters() == ["w"]


def test_deadlock_between_two_owners_names_both_and_changes_nothing(table: Table) -> None:
    """Rule 7: A holds x and waits for y; B holds y; B asking for x is refused naming B and A."""
    table.acquire("a", name="x")
    table.acquire("b", name="y")
    assert table.acquire("a", name="y", wait=1000)["queued"]
    before = table.machine.snapshot()
    refused = table.acquire("b", name="x", wait=1000)
    assert refused == {"ok": False, "error": "deadlock", "cycle": ["b", "a"]}
    after = LockStateMachine()
    after.restore(before)
    assert after.table.locks == table.machine.table.locks
    assert table.waiters("y") == ["a"]


def test_deadlock_among_three_owners_names_the_cycle(table: Table) -> None:
    """Rule 7: a -> b -> c -> a across three locks is refused at its last edge, naming all three."""
    table.acquire("a", name="x")
    table.acquire("b", name="y")
    table.acquire("c", name="z")
    table.acquire("a", name="y", wait=1000)
    table.acquire("b", name="z", wait=1000)
    refused = table.acquire("c", name="x", wait=1000)
    assert refused == {"ok": False, "error": "deadlock", "cycle": ["c", "a", "b"]}
    assert find_any_cycle(table.machine.table.wait_for_graph()) is None


def test_try_lock_never_reports_deadlock(table: Table) -> None:
    """A try-lock does not wait, so it cannot close a cycle: it times out instead."""
    table.acquire("a", name="x")
    table.acquire("b", name="y")
    table.acquire("a", name="y", wait=1000)
    assert table.acquire("b", name="x", wait=0) == {"ok": False, "error": "timeout"}


def test_repeated_acquire_while_waiting_returns_the_same_request(table: Table) -> None:
    """Rule 8: retrying a queued acquire does not enqueue twice."""
    table.acquire("a")
    first = table.acquire("b", wait=500)
    assert table.acquire("b", wait=500) == first
    assert table.waiters() == ["b"]


def test_cancel_reports_a_grant_made_in_time(table: Table) -> None:
    """cancel is final: it withdraws a waiting request, or returns the grant that beat it."""
    token = table.acquire("a")["token"]
    table.acquire("b", wait=500)
    table.acquire("c", wait=500)
    table.release("a", token)
    assert table.apply({"f": "cancel", "name": "x", "owner": "b", "request": 2})["ok"] is True
    assert table.apply({"f": "cancel", "name": "x", "owner": "c", "request": 3}) == {
        "ok": False,
        "error": "timeout",
        "cancelled": True,
    }
    assert table.waiters() == []


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (
            {"f": "acquire", "name": "x", "owner": 3, "mode": "shared", "ttl_ms": 1, "wait_ms": 0},
            "owner",
        ),
        (
            {"f": "acquire", "name": "x", "owner": "a", "mode": "read", "ttl_ms": 1, "wait_ms": 0},
            "mode",
        ),
        (
            {
                "f": "acquire",
                "name": "x",
                "owner": "a",
                "mode": "shared",
                "ttl_ms": 0,
                "wait_ms": 0,
            },
            "ttl_ms",
        ),
        (
            {
                "f": "acquire",
                "name": "x",
                "owner": "a",
                "mode": "shared",
                "ttl_ms": 1,
                "wait_ms": -1,
            },
            "wait_ms",
        ),
        (
            {
                "f": "acquire",
                "name": "x",
                "owner": "a",
                "mode": "shared",
                "ttl_ms": True,
                "wait_ms": 0,
            },
            "ttl_ms",
        ),
        ({"f": "release", "name": "x", "owner": "a", "token": "1"}, "token"),
        ({"f": "keepalive", "name": "", "owner": "a", "token": 1}, "name"),
        ({"f": "steal", "name": "x", "owner": "a"}, "f"),
    ],
)
def test_malformed_op_is_a_bad_request_naming_the_field(
    table: Table, op: dict[str, Any], field: str
) -> None:
    """Service contract Rule 1: bad input is an error result naming the field, never an exception."""
    result = table.apply(op)
    assert result["error"] == "bad-request" and result["field"] == field
    assert table.machine.table.locks == {}


def test_bfs_cycle_search_matches_brute_force_on_small_graphs() -> None:
    """The optimised cycle search names exactly the brute-force spec's cycle (shortest, then smallest)."""
    owners = ["a", "b", "c", "d"]
    pairs = [(x, y) for x in owners for y in owners if x != y]
    for mask in range(0, 1 << len(pairs), 97):
        edges = {pair for bit, pair in enumerate(pairs) if mask >> bit & 1}
        graph: dict[str, set[str]] = {}
        for x, y in edges:
            graph.setdefault(x, set()).add(y)
        for start in owners:
            assert find_cycle(graph, start) == lock_spec.cycle_through(edges, start), (edges, start)


def test_cancelled_upgrade_does_not_report_the_shared_grant_as_exclusive(table: Table) -> None:
    """An upgrade that timed out answers timeout, although the owner still holds shared."""
    table.acquire("a", mode="shared")
    table.acquire("b", mode="shared")
    queued = table.acquire("a", mode="exclusive", wait=100, at=0)
    assert queued["queued"]
    table.tick(at=100)  # the upgrade's wait ran out
    cancel = {"f": "cancel", "name": "x", "owner": "a", "request": queued["request"]}
    assert table.apply(cancel) == {"ok": False, "error": "timeout"}
    assert table.holders() == {"a": "shared", "b": "shared"}
