"""A sequential model of the lock table: obviously right, slow on purpose.

Theory of operation: the whole state is one plain dictionary, and ``step``
copies it, so no step can half-change anything. Every step re-examines every
lock (no deadline heap), and deadlock search tries every ordering of the
other owners (no clever graph search). impl/lock/ must produce the same
results on the same commands; tests/lock/test_lock_table_matches_spec.py
checks that. The rules are those written in impl/lock/table.py (Rules 1-8)
and docs/locks.md, restated here as directly as possible:

  * compatible = no exclusive among the two modes;
  * a new request is granted at once iff nobody waits and it is compatible with
    every holder; else (wait_ms > 0) it joins the end of the queue, or (for an
    upgrade) the front;
  * before each command: log time = max(log time, stamp); holders with
    expires_at <= now and waiters with deadline <= now leave; then each lock
    (in name order) grants its queue from the front while compatible;
  * each grant or change of mode takes token max(index, last token + 1);
  * x waits for y when y is ahead of x on some lock (holding it, or queued
    before x) and their modes conflict; refusing a request that closes a
    cycle keeps that relation acyclic.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

State = dict[str, Any]
# state = {"now": int, "last": int, "locks": {name: {"holders": [hold], "waiters": [wait]}}}
# hold = {"owner", "mode", "token", "ttl", "expires", "request"}
# wait = {"owner", "mode", "ttl", "deadline", "request", "upgrade"}


def init() -> State:
    return {"now": 0, "last": 0, "locks": {}}


def compatible(mode_a: str, mode_b: str) -> bool:
    return mode_a == "shared" and mode_b == "shared"


def waits_for(state: State) -> set[tuple[str, str]]:
    """Every edge (x, y): x is queued behind y, or y holds, on some lock, and they conflict."""
    edges = set()
    for lock in state["locks"].values():
        for position, waiter in enumerate(lock["waiters"]):
            ahead = lock["holders"] + lock["waiters"][:position]
            for other in ahead:
                if other["owner"] != waiter["owner"] and not compatible(
                    waiter["mode"], other["mode"]
                ):
                    edges.add((waiter["owner"], other["owner"]))
    return edges


def is_cycle(edges: set[tuple[str, str]], cycle: list[str]) -> bool:
    """True when ``cycle`` lists distinct owners each waiting for the next, the last for the first."""
    if not cycle or len(set(cycle)) != len(cycle):
        return False
    return all((a, b) in edges for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))


def cycle_through(edges: set[tuple[str, str]], owner: str) -> list[str] | None:
    """Brute force: try every sequence of other owners, shortest first."""
    others = sorted({o for edge in edges for o in edge} - {owner})
    for length in range(len(others) + 1):
        for middle in itertools.permutations(others, length):
            if is_cycle(edges, [owner, *middle]):
                return [owner, *middle]
    return None


def _grant(
    state: State, index: int, lock: dict[str, Any], owner: str, mode: str, ttl: int, request: int
) -> dict:
    state["last"] = max(index, state["last"] + 1)
    hold = {
        "owner": owner,
        "mode": mode,
        "token": state["last"],
        "ttl": ttl,
        "expires": state["now"] + ttl,
        "request": request,
    }
    lock["holders"] = [h for h in lock["holders"] if h["owner"] != owner] + [hold]
    return hold


def _granted(hold: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "token": hold["token"],
        "mode": hold["mode"],
        "expires_at_ms": hold["expires"],
        "request": hold["request"],
    }


def _settle_all(state: State, index: int) -> None:
    now = state["now"]
    for name in sorted(state["locks"]):
        lock = state["locks"][name]
        gone = {h["owner"] for h in lock["holders"] if h["expires"] <= now}
        lock["holders"] = [h for h in lock["holders"] if h["owner"] not in gone]
        lock["waiters"] = [
            w
            for w in lock["waiters"]
            if w["deadline"] > now and not (w["upgrade"] and w["owner"] in gone)
        ]
        _settle(state, index, name)


def _settle(state: State, index: int, name: str) -> None:
    lock = state["locks"][name]
    while lock["waiters"]:
        head = lock["waiters"][0]
        if not all(
            compatible(head["mode"], h["mode"])
            for h in lock["holders"]
            if h["owner"] != head["owner"]
        ):
            break
        lock["waiters"] = lock["waiters"][1:]
        _grant(state, index, lock, head["owner"], head["mode"], head["ttl"], head["request"])
    if not lock["holders"] and not lock["waiters"]:
        del state["locks"][name]


def step(
    state: State, index: int, op: dict[str, Any], stamp_ms: int
) -> tuple[State, dict[str, Any]]:
    """Apply one well-formed command; return the new state and the result."""
    state = copy.deepcopy(state)
    state["now"] = max(state["now"], stamp_ms)
    _settle_all(state, index)
    f = op["f"]
    if f == "tick":
        return state, {"ok": True, "log_time_ms": state["now"]}
    name, owner = op["name"], op["owner"]
    lock = state["locks"].setdefault(name, {"holders": [], "waiters": []})
    mine = next((h for h in lock["holders"] if h["owner"] == owner), None)
    waiting = next((w for w in lock["waiters"] if w["owner"] == owner), None)
    result = _execute(state, index, op, name, owner, lock, mine, waiting)
    if name in state["locks"] and not lock["holders"] and not lock["waiters"]:
        del state["locks"][name]
    return state, result


def _execute(
    state: State,
    index: int,
    op: dict[str, Any],
    name: str,
    owner: str,
    lock: dict[str, Any],
    mine: dict[str, Any] | None,
    waiting: dict[str, Any] | None,
) -> dict[str, Any]:
    f = op["f"]
    if f in ("release", "keepalive"):
        if mine is None or mine["token"] != op["token"]:
            return {"ok": False, "error": "not-held"}
        if f == "keepalive":
            mine["expires"] = state["now"] + mine["ttl"]
            return {"ok": True, "token": mine["token"], "expires_at_ms": mine["expires"]}
        lock["holders"].remove(mine)
        lock["waiters"] = [w for w in lock["waiters"] if not (w["upgrade"] and w["owner"] == owner)]
        _settle(state, index, name)
        return {"ok": True}
    if f == "cancel":
        if waiting is not None:
            lock["waiters"].remove(waiting)
            _settle(state, index, name)
            return {"ok": False, "error": "timeout", "cancelled": True}
        if mine is not None and mine["request"] == op["request"]:
            return _granted(mine)
        return {"ok": False, "error": "timeout"}
    assert f == "acquire", f
    return _acquire(state, index, op, name, owner, lock, mine, waiting)


def _acquire(
    state: State,
    index: int,
    op: dict[str, Any],
    name: str,
    owner: str,
    lock: dict[str, Any],
    mine: dict[str, Any] | None,
    waiting: dict[str, Any] | None,
) -> dict[str, Any]:
    mode, ttl, wait = op["mode"], op["ttl_ms"], op["wait_ms"]
    if waiting is not None:
        return {
            "ok": False,
            "queued": True,
            "request": waiting["request"],
            "deadline_ms": waiting["deadline"],
        }
    if mine is not None and mine["mode"] == mode:
        mine["ttl"], mine["expires"] = ttl, state["now"] + ttl
        return _granted(mine)
    others = [h for h in lock["holders"] if h["owner"] != owner]
    upgrade = mine is not None and mode == "exclusive"
    if all(compatible(mode, h["mode"]) for h in others) and (
        mine is not None or not lock["waiters"]
    ):
        hold = _grant(state, index, lock, owner, mode, ttl, index)
        _settle(state, index, name)
        return _granted(hold)
    if wait == 0:
        return {"ok": False, "error": "timeout"}
    wait_entry = {
        "owner": owner,
        "mode": mode,
        "ttl": ttl,
        "deadline": state["now"] + wait,
        "request": index,
        "upgrade": upgrade,
    }
    before = list(lock["waiters"])
    lock["waiters"] = [wait_entry, *before] if upgrade else [*before, wait_entry]
    cycle = cycle_through(waits_for(state), owner)
    if cycle is not None:
        lock["waiters"] = before
        return {"ok": False, "error": "deadlock", "cycle": cycle}
    return {"ok": False, "queued": True, "request": index, "deadline_ms": wait_entry["deadline"]}
