"""The lock manager as a replicated service (impl/statemachine.StateMachine).

Theory of operation: this file only decodes and validates ``Command.op``,
hands it to the table (impl/lock/table.py, where every rule lives) and turns
the table into bytes and back. Every command, even a malformed one, first
advances log time (``LockTable.begin``): log time is a property of the log,
not of a well-formed request, and all replicas see the same malformed entry.

Operations (``Command.op``; ``name`` is the lock's name, a string):
    {"f": "acquire", "name", "owner", "mode": "shared"|"exclusive", "ttl_ms": int >= 1, "wait_ms": int >= 0}
        -> {"ok": true, "token", "mode", "expires_at_ms", "request"}      granted
         | {"ok": false, "queued": true, "request", "deadline_ms"}        waiting (wait_ms > 0)
         | {"ok": false, "error": "timeout"}                              try-lock (wait_ms 0) failed
         | {"ok": false, "error": "deadlock", "cycle": [owner, ...]}      refused, table unchanged
    {"f": "release", "name", "owner", "token"}   -> {"ok": true} | {"ok": false, "error": "not-held"}
    {"f": "keepalive", "name", "owner", "token"} -> {"ok": true, "token", "expires_at_ms"} | not-held
    {"f": "cancel", "name", "owner", "request"}
        -> the grant made for that request (the acquire's index) if it was made meanwhile,
           else {"ok": false, "error": "timeout"}
    {"f": "tick"}                     -> {"ok": true, "log_time_ms"}   (only advances log time)
    Malformed: {"ok": false, "error": "bad-request", "field": <name>, "message"}.

Queries:
    {"f": "lock", "name"}  -> {"ok": true, "holders": [...], "waiters": [...], "log_time_ms"}
    {"f": "request", "name", "owner", "request": int}
        -> {"ok": true, "state": "held", "token", "mode", "expires_at_ms"}   that request was granted
         | {"ok": true, "state": "waiting", "deadline_ms"}
         | {"ok": true, "state": "gone"}                                      timed out, cancelled or ended
    {"f": "pending"} -> {"ok": true, "log_time_ms", "next_deadline_ms": int | null}
        (the leader's runtime proposes a tick once its clock passes next_deadline_ms)

A waiting HTTP acquire wakes up by re-reading {"f": "request"} after each
applied batch (ServiceHost.wait_state_changed); when its own wait is over it
proposes "cancel", whose answer is final either way.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import msgpack

from impl.lock.table import MODES, Grant, LockState, LockTable, Waiter
from impl.statemachine import Command


def _bad(field: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": "bad-request", "field": field, "message": message}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(op: dict[str, Any]) -> dict[str, Any] | None:
    """The bad-request result for a malformed op, naming the first bad field; None if well formed."""
    f = op.get("f")
    if f == "tick":
        return None
    if f not in ("acquire", "release", "keepalive", "cancel"):
        return _bad("f", f"unknown lock operation {f!r}")
    if not isinstance(op.get("name"), str) or not op["name"]:
        return _bad("name", "name must be a non-empty string")
    if not isinstance(op.get("owner"), str) or not op["owner"]:
        return _bad("owner", "owner must be a non-empty string")
    if f == "acquire":
        if op.get("mode") not in MODES:
            return _bad("mode", "mode must be 'shared' or 'exclusive'")
        if not _is_int(op.get("ttl_ms")) or op["ttl_ms"] < 1:
            return _bad("ttl_ms", "ttl_ms must be an integer >= 1")
        if not _is_int(op.get("wait_ms")) or op["wait_ms"] < 0:
            return _bad("wait_ms", "wait_ms must be an integer >= 0")
    if f in ("release", "keepalive") and not _is_int(op.get("token")):
        return _bad("token", "token must be an integer")
    if f == "cancel" and not _is_int(op.get("request")):
        return _bad("request", "request must be the queued acquire's index")
    return None


def _grant_view(grant: Grant) -> dict[str, Any]:
    return {
        "owner": grant.owner,
        "mode": grant.mode,
        "token": grant.token,
        "expires_at_ms": grant.expires_at_ms,
    }


def _waiter_view(waiter: Waiter) -> dict[str, Any]:
    return {
        "owner": waiter.owner,
        "mode": waiter.mode,
        "deadline_ms": waiter.deadline_ms,
        "upgrade": waiter.upgrade,
    }


class LockStateMachine:
    def __init__(self) -> None:
        self.table = LockTable()

    def apply(self, index: int, command: Command) -> Any:
        op = command.op
        self.table.begin(index, command.stamp_ms)
        error = validate(op)
        if error is not None:
            return error
        f = op["f"]
        if f == "tick":
            return {"ok": True, "log_time_ms": self.table.log_time_ms}
        name, owner = op["name"], op["owner"]
        if f == "acquire":
            return self.table.acquire(name, owner, op["mode"], op["ttl_ms"], op["wait_ms"])
        if f == "release":
            return self.table.release(name, owner, op["token"])
        if f == "keepalive":
            return self.table.keepalive(name, owner, op["token"])
        return self.table.cancel(name, owner, op["request"])

    def query(self, query: dict[str, Any]) -> Any:
        f = query.get("f")
        if f == "pending":
            return {
                "ok": True,
                "log_time_ms": self.table.log_time_ms,
                "next_deadline_ms": self.table.next_deadline_ms(),
            }
        name = query.get("name")
        if not isinstance(name, str):
            return _bad("name", "name must be a string")
        lock = self.table.locks.get(name, LockState())
        if f == "lock":
            return {
                "ok": True,
                "holders": [_grant_view(g) for g in lock.holders.values()],
                "waiters": [_waiter_view(w) for w in lock.waiters],
                "log_time_ms": self.table.log_time_ms,
            }
        if f == "request":
            return self._request_state(lock, query.get("owner"), query.get("request"))
        return _bad("f", f"unknown lock query {f!r}")

    @staticmethod
    def _request_state(lock: LockState, owner: Any, request: Any) -> dict[str, Any]:
        for waiter in lock.waiters:
            if waiter.owner == owner and waiter.request == request:
                return {"ok": True, "state": "waiting", "deadline_ms": waiter.deadline_ms}
        held = lock.holders.get(owner) if isinstance(owner, str) else None
        if held is not None and held.request == request:
            return {
                "ok": True,
                "state": "held",
                "token": held.token,
                "mode": held.mode,
                "expires_at_ms": held.expires_at_ms,
            }
        return {"ok": True, "state": "gone"}

    def snapshot(self) -> bytes:
        table = self.table
        locks = [
            [
                name,
                [
                    [g.owner, g.mode, g.token, g.ttl_ms, g.expires_at_ms, g.request]
                    for g in lock.holders.values()
                ],
                [
                    [w.owner, w.mode, w.ttl_ms, w.deadline_ms, w.request, w.upgrade]
                    for w in lock.waiters
                ],
            ]
            for name, lock in table.locks.items()
        ]
        return msgpack.packb(
            [table.log_time_ms, table.last_token, table.applied_index, locks], use_bin_type=True
        )

    def restore(self, data: bytes) -> None:
        table = LockTable()
        if data:
            log_time_ms, last_token, index, locks = msgpack.unpackb(data, raw=False)
            table.log_time_ms, table.last_token, table.applied_index = (
                log_time_ms,
                last_token,
                index,
            )
            for name, holders, waiters in locks:
                lock = table.locks[name] = LockState()
                for owner, mode, token, ttl_ms, expires_at_ms, request in holders:
                    lock.holders[owner] = Grant(
                        owner=owner,
                        mode=mode,
                        token=token,
                        ttl_ms=ttl_ms,
                        expires_at_ms=expires_at_ms,
                        request=request,
                    )
                for owner, mode, ttl_ms, deadline_ms, request, upgrade in waiters:
                    lock.waiters.append(
                        Waiter(
                            owner=owner,
                            mode=mode,
                            ttl_ms=ttl_ms,
                            deadline_ms=deadline_ms,
                            request=request,
                            upgrade=upgrade,
                        )
                    )
            table.rebuild_deadlines()
        self.table = table
