"""The replicated lock table: shared/exclusive locks, FIFO waiters, leases, fencing tokens.

Theory of operation: the table changes only when a committed command is
applied, and it never reads a clock. Time is *log time*: the largest
``Command.stamp_ms`` applied so far (impl/statemachine.py), so every replica
agrees on when a lease ran out even when their own clocks disagree. Each
apply first moves log time forward, then expires what is due, then grants
what became grantable, and only then executes the command itself. That
order is what makes Rule 4 hold.

Rules:
  Rule 1 (compatibility). Shared holders coexist; an exclusive holder is alone.
  Rule 2 (FIFO, no writer starvation). A new request is granted at once only
          if it is compatible with the holders AND nobody is waiting; else it
          queues at the tail. Waiters are granted strictly from the head: a
          waiting exclusive request blocks every later shared one.
  Rule 3 (leases). Every grant has ``expires_at_ms = log time at grant + ttl``;
          keepalive with the grant's token resets it. A holder is dropped when
          ``log time >= expires_at_ms``.
  Rule 4 (no grant to the dead). A waiter is dropped when
          ``log time >= deadline_ms`` (log time at enqueue + wait_ms), and
          grants are evaluated after expiry at the current log time, so a
          grant is never made on behalf of a request that has already given
          up. Its lease starts at the grant, so it is live when made. (Jepsen's
          etcd 3.4.3 analysis found etcd granting locks to clients whose
          leases had already expired; this order rules that out.)
  Rule 5 (fencing tokens). Every grant, and every change of mode, gets a new
          token: the Raft index of the entry that caused it (a release that
          wakes a waiter: the release's index), bumped to ``last + 1`` when
          one entry makes several grants. Tokens are therefore strictly
          increasing per lock (and globally). Re-acquiring a mode already held
          returns the same token. Release and keepalive need the current
          token; a stale one gets ``not-held`` and changes nothing.
  Rule 6 (reentrancy). An owner re-acquiring the mode it holds gets its grant
          back (same token, lease extended to the new ttl). An exclusive holder
          asking for shared is downgraded at once (new token) and compatible
          waiters at the head are then granted. A shared holder asking for
          exclusive is upgraded at once when it is the sole holder (new
          token); otherwise it waits at the HEAD of the queue, keeping its
          shared grant meanwhile. Two upgraders of one lock wait for each
          other: the second is refused as a deadlock by Rule 7. If the shared
          grant of an upgrader ends (release, expiry), its upgrade is dropped.
  Rule 7 (deadlock). The wait-for graph (impl/lock/waitfor.py) is acyclic after
          every command: an acquire that would close a cycle is refused with
          the cycle's owners, and nothing in the table changes.
  Rule 8 (one request per owner per lock). An owner already waiting on a lock
          who asks again gets the same ``queued`` answer for its existing
          request; this makes retried proposals harmless.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Any

from impl.lock.waitfor import WaitForGraph, add_lock_edges, conflicts, find_cycle

SHARED = "shared"
EXCLUSIVE = "exclusive"
MODES = (SHARED, EXCLUSIVE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """A held lock: who, how, with which fencing token, until when (log time)."""

    owner: str
    mode: str
    token: int
    ttl_ms: int
    expires_at_ms: int
    request: int  # Raft index of the acquire entry that asked for this grant


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiter:
    """A queued request; ``upgrade`` marks a shared holder asking for exclusive."""

    owner: str
    mode: str
    ttl_ms: int
    deadline_ms: int
    request: int
    upgrade: bool = False


@dataclass(slots=True)
class LockState:
    holders: dict[str, Grant] = field(default_factory=dict)
    waiters: list[Waiter] = field(default_factory=list)


def granted(grant: Grant) -> dict[str, Any]:
    return {
        "ok": True,
        "token": grant.token,
        "mode": grant.mode,
        "expires_at_ms": grant.expires_at_ms,
        "request": grant.request,
    }


def _queued(waiter: Waiter) -> dict[str, Any]:
    return {
        "ok": False,
        "queued": True,
        "request": waiter.request,
        "deadline_ms": waiter.deadline_ms,
    }


TIMEOUT: dict[str, Any] = {"ok": False, "error": "timeout"}
NOT_HELD: dict[str, Any] = {"ok": False, "error": "not-held"}


class LockTable:
    """All locks of one replica. Mutated only through ``begin`` and the op methods."""

    def __init__(self) -> None:
        self.log_time_ms = 0
        self.last_token = 0
        self.locks: dict[str, LockState] = {}
        # (log time, lock name) at which something of that lock may run out.
        # Entries go stale when a lease is extended or released; a stale entry
        # only causes a harmless re-examination, so it is never removed early.
        self._deadlines: list[tuple[int, str]] = []
        self.applied_index = 0

    # ----- the order of one apply: begin(), then one op method --------------

    def begin(self, index: int, stamp_ms: int) -> None:
        """Advance log time to this entry's stamp, expire what is due, grant what became free."""
        assert index > self.applied_index, (
            f"entries applied out of order: {index} after {self.applied_index}"
        )
        self.applied_index = index
        self.log_time_ms = max(self.log_time_ms, stamp_ms)
        due: set[str] = set()
        while self._deadlines and self._deadlines[0][0] <= self.log_time_ms:
            due.add(heapq.heappop(self._deadlines)[1])
        # Sorted, so that every replica hands out tokens in the same order.
        for name in sorted(due):
            if name in self.locks:
                self._expire(name)
                self._settle(name)

    def acquire(
        self, name: str, owner: str, mode: str, ttl_ms: int, wait_ms: int
    ) -> dict[str, Any]:
        lock = self.locks.get(name)
        if lock is None:
            lock = self.locks[name] = LockState()
        for waiter in lock.waiters:
            if waiter.owner == owner:
                return _queued(waiter)  # Rule 8
        held = lock.holders.get(owner)
        if held is not None:
            return self._reacquire(name, lock, held, mode, ttl_ms, wait_ms)
        if not lock.waiters and not any(conflicts(mode, h.mode) for h in lock.holders.values()):
            return granted(self._grant(name, lock, owner, mode, ttl_ms, request=self.applied_index))
        if wait_ms == 0:
            self._drop_if_empty(name)
            return dict(TIMEOUT)
        waiter = self._waiter(owner, mode, ttl_ms, wait_ms, upgrade=False)
        return self._maybe_enqueue(name, lock, waiter, at_head=False)

    def release(self, name: str, owner: str, token: int) -> dict[str, Any]:
        lock = self.locks.get(name)
        held = lock.holders.get(owner) if lock is not None else None
        if lock is None or held is None or held.token != token:
            return dict(NOT_HELD)
        self._end_grant(lock, owner)
        self._settle(name)
        return {"ok": True}

    def keepalive(self, name: str, owner: str, token: int) -> dict[str, Any]:
        lock = self.locks.get(name)
        held = lock.holders.get(owner) if lock is not None else None
        if lock is None or held is None or held.token != token:
            return dict(NOT_HELD)
        grant = replace(held, expires_at_ms=self.log_time_ms + held.ttl_ms)
        lock.holders[owner] = grant
        heapq.heappush(self._deadlines, (grant.expires_at_ms, name))
        return {"ok": True, "token": grant.token, "expires_at_ms": grant.expires_at_ms}

    def cancel(self, name: str, owner: str, request: int) -> dict[str, Any]:
        """Withdraw owner's waiting request. If THAT request was granted meanwhile, report the grant.

        Only the grant made for ``request`` counts: an upgrader whose upgrade
        timed out still holds its shared grant, and reporting that would tell
        the client it got the exclusive lock.
        """
        lock = self.locks.get(name)
        if lock is None:
            return dict(TIMEOUT)
        for waiter in lock.waiters:
            if waiter.owner == owner:
                lock.waiters.remove(waiter)
                self._settle(name)
                return {"ok": False, "error": "timeout", "cancelled": True}
        held = lock.holders.get(owner)
        return granted(held) if held is not None and held.request == request else dict(TIMEOUT)

    # ----- reading ------------------------------------------------------------

    def wait_for_graph(self, extra: tuple[str, LockState] | None = None) -> WaitForGraph:
        """The graph of the table, with lock ``extra[0]`` replaced by ``extra[1]`` if given."""
        graph: WaitForGraph = {}
        for name, lock in self.locks.items():
            if extra is not None and name == extra[0]:
                lock = extra[1]
            add_lock_edges(graph, lock.holders.values(), lock.waiters)
        return graph

    def next_deadline_ms(self) -> int | None:
        """The earliest log time at which a lease or a wait may run out (None: nothing pending)."""
        times = [g.expires_at_ms for lock in self.locks.values() for g in lock.holders.values()]
        times += [w.deadline_ms for lock in self.locks.values() for w in lock.waiters]
        return min(times) if times else None

    def rebuild_deadlines(self) -> None:
        """Recompute the deadline heap from the table (after ``restore``)."""
        self._deadlines = [
            (g.expires_at_ms, name)
            for name, lock in self.locks.items()
            for g in lock.holders.values()
        ]
        self._deadlines += [
            (w.deadline_ms, name) for name, lock in self.locks.items() for w in lock.waiters
        ]
        heapq.heapify(self._deadlines)

    # ----- helpers ------------------------------------------------------------

    def _reacquire(
        self, name: str, lock: LockState, held: Grant, mode: str, ttl_ms: int, wait_ms: int
    ) -> dict[str, Any]:
        """Rule 6: same mode, downgrade, or upgrade."""
        if held.mode == mode:
            grant = replace(held, ttl_ms=ttl_ms, expires_at_ms=self.log_time_ms + ttl_ms)
            lock.holders[held.owner] = grant
            heapq.heappush(self._deadlines, (grant.expires_at_ms, name))
            return granted(grant)
        if mode == SHARED or len(lock.holders) == 1:  # downgrade, or sole-holder upgrade
            grant = self._grant(name, lock, held.owner, mode, ttl_ms, request=self.applied_index)
            self._settle(name)
            return granted(grant)
        if wait_ms == 0:
            return dict(TIMEOUT)
        waiter = self._waiter(held.owner, mode, ttl_ms, wait_ms, upgrade=True)
        return self._maybe_enqueue(name, lock, waiter, at_head=True)

    def _waiter(self, owner: str, mode: str, ttl_ms: int, wait_ms: int, *, upgrade: bool) -> Waiter:
        return Waiter(
            owner=owner,
            mode=mode,
            ttl_ms=ttl_ms,
            deadline_ms=self.log_time_ms + wait_ms,
            request=self.applied_index,
            upgrade=upgrade,
        )

    def _maybe_enqueue(
        self, name: str, lock: LockState, waiter: Waiter, *, at_head: bool
    ) -> dict[str, Any]:
        """Rule 7: enqueue unless that closes a cycle in the wait-for graph."""
        queue = [waiter, *lock.waiters] if at_head else [*lock.waiters, waiter]
        candidate = LockState(holders=lock.holders, waiters=queue)
        cycle = find_cycle(self.wait_for_graph(extra=(name, candidate)), waiter.owner)
        if cycle is not None:
            self._drop_if_empty(name)
            return {"ok": False, "error": "deadlock", "cycle": cycle}
        lock.waiters = queue
        heapq.heappush(self._deadlines, (waiter.deadline_ms, name))
        return _queued(waiter)

    def _grant(
        self, name: str, lock: LockState, owner: str, mode: str, ttl_ms: int, *, request: int
    ) -> Grant:
        """Make (or replace) owner's grant with a fresh token (Rule 5)."""
        self.last_token = max(self.applied_index, self.last_token + 1)
        grant = Grant(
            owner=owner,
            mode=mode,
            token=self.last_token,
            ttl_ms=ttl_ms,
            expires_at_ms=self.log_time_ms + ttl_ms,
            request=request,
        )
        lock.holders[owner] = grant
        heapq.heappush(self._deadlines, (grant.expires_at_ms, name))
        return grant

    def _end_grant(self, lock: LockState, owner: str) -> None:
        """Drop owner's grant and, with it, any upgrade it was waiting for (Rule 6)."""
        del lock.holders[owner]
        lock.waiters = [w for w in lock.waiters if not (w.upgrade and w.owner == owner)]

    def _expire(self, name: str) -> None:
        """Rules 3 and 4: drop holders and waiters whose time has come."""
        lock = self.locks[name]
        now = self.log_time_ms
        for owner in [o for o, g in lock.holders.items() if g.expires_at_ms <= now]:
            self._end_grant(lock, owner)
        lock.waiters = [w for w in lock.waiters if w.deadline_ms > now]

    def _settle(self, name: str) -> None:
        """Grant waiters from the head while they are compatible (Rule 2), then tidy up."""
        lock = self.locks[name]
        while lock.waiters:
            head = lock.waiters[0]
            others = [g for o, g in lock.holders.items() if o != head.owner]
            if any(conflicts(head.mode, g.mode) for g in others):
                break
            lock.waiters.pop(0)
            self._grant(name, lock, head.owner, head.mode, head.ttl_ms, request=head.request)
        self._drop_if_empty(name)

    def _drop_if_empty(self, name: str) -> None:
        lock = self.locks.get(name)
        if lock is not None and not lock.holders and not lock.waiters:
            del self.locks[name]
