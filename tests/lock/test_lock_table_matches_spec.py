"""The replicated lock table behaves exactly like the sequential model in spec/lock.py.

Every rule feeds the same command to impl/lock (through the StateMachine
interface, so validation and snapshotting are covered too) and to the model,
and requires identical results; the invariants check the properties the
lock manager promises, on the implementation's own state.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import spec.lock as lock_spec
from impl.lock import LockStateMachine
from impl.lock.waitfor import conflicts, find_any_cycle
from impl.statemachine import Command

OWNERS = ("a", "b", "c")
NAMES = ("x", "y", "x", "y", "z")
owners = st.sampled_from(OWNERS)
names = st.sampled_from(NAMES)
modes = st.sampled_from(("shared", "exclusive"))
ttls = st.sampled_from((1, 20, 200, 1000))
waits = st.sampled_from((0, 3, 50, 1000, 1000))
# Mostly forward, sometimes backwards: a new leader's clock may lag the old one's.
clock_steps = st.one_of(
    st.integers(min_value=0, max_value=3), st.integers(min_value=-5, max_value=40)
)


def _state_view(machine: LockStateMachine) -> dict[str, Any]:
    table = machine.table
    return {
        "now": table.log_time_ms,
        "last": table.last_token,
        "locks": {
            name: {
                "holders": sorted(
                    (g.owner, g.mode, g.token, g.ttl_ms, g.expires_at_ms, g.request)
                    for g in lock.holders.values()
                ),
                "waiters": [
                    (w.owner, w.mode, w.ttl_ms, w.deadline_ms, w.request, w.upgrade)
                    for w in lock.waiters
                ],
            }
            for name, lock in table.locks.items()
        },
    }


def _spec_view(state: lock_spec.State) -> dict[str, Any]:
    return {
        "now": state["now"],
        "last": state["last"],
        "locks": {
            name: {
                "holders": sorted(
                    (h["owner"], h["mode"], h["token"], h["ttl"], h["expires"], h["request"])
                    for h in lock["holders"]
                ),
                "waiters": [
                    (w["owner"], w["mode"], w["ttl"], w["deadline"], w["request"], w["upgrade"])
                    for w in lock["waiters"]
                ],
            }
            for name, lock in state["locks"].items()
        },
    }


class LockTableMatchesSpec(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.machine = LockStateMachine()
        self.spec = lock_spec.init()
        self.index = 0
        self.clock_ms = 0
        self.highest_token: dict[str, int] = {}  # highest token ever seen held, per lock
        self.grants_seen: set[tuple[str, str, int]] = set()

    def _apply(self, op: dict[str, Any], clock_step: int) -> dict[str, Any]:
        self.index += 1
        self.clock_ms = max(0, self.clock_ms + clock_step)
        command = Command(service="lock", op=op, stamp_ms=self.clock_ms)
        result = self.machine.apply(self.index, command)
        self.spec, expected = lock_spec.step(self.spec, self.index, op, self.clock_ms)
        assert result == expected, f"{op} at t={self.clock_ms}: impl {result} != spec {expected}"
        return result

    def _held_token(self, name: str, owner: str) -> int | None:
        lock = self.machine.table.locks.get(name)
        grant = lock.holders.get(owner) if lock is not None else None
        return None if grant is None else grant.token

    @rule(owner=owners, name=names, mode=modes, ttl=ttls, wait=waits, step=clock_steps)
    def acquire(self, owner: str, name: str, mode: str, ttl: int, wait: int, step: int) -> None:
        op = {
            "f": "acquire",
            "name": name,
            "owner": owner,
            "mode": mode,
            "ttl_ms": ttl,
            "wait_ms": wait,
        }
        self._apply(op, step)

    @rule(owner=owners, name=names, step=clock_steps, stale=st.booleans())
    def release(self, owner: str, name: str, step: int, stale: bool) -> None:
        token = self._held_token(name, owner)
        token = (token or 0) - 1 if stale or token is None else token
        self._apply({"f": "release", "name": name, "owner": owner, "token": token}, step)

    @rule(owner=owners, name=names, step=clock_steps, stale=st.booleans())
    def keepalive(self, owner: str, name: str, step: int, stale: bool) -> None:
        token = self._held_token(name, owner)
        token = (token or 0) - 1 if stale or token is None else token
        self._apply({"f": "keepalive", "name": name, "owner": owner, "token": token}, step)

    @precondition(lambda self: any(lock.holders for lock in self.machine.table.locks.values()))
    @rule(data=st.data(), step=clock_steps)
    def upgrade_or_downgrade(self, data: st.DataObject, step: int) -> None:
        """A holder asks for the other mode (Rule 6)."""
        held = [
            (n, g)
            for n, lock in sorted(self.machine.table.locks.items())
            for g in lock.holders.values()
        ]
        name, grant = data.draw(st.sampled_from(held))
        other = "shared" if grant.mode == "exclusive" else "exclusive"
        wait = data.draw(waits)
        op = {
            "f": "acquire",
            "name": name,
            "owner": grant.owner,
            "mode": other,
            "ttl_ms": 50,
            "wait_ms": wait,
        }
        self._apply(op, step)

    @rule(owner=owners, name=names, step=clock_steps, data=st.data())
    def cancel(self, owner: str, name: str, step: int, data: st.DataObject) -> None:
        """Cancel a request: one that is queued or was granted (by its index), or a made-up one."""
        lock = self.machine.table.locks.get(name)
        known = (
            [w.request for w in lock.waiters] + [g.request for g in lock.holders.values()]
            if lock
            else []
        )
        request = data.draw(st.sampled_from([*known, self.index]))
        self._apply({"f": "cancel", "name": name, "owner": owner, "request": request}, step)

    @rule()
    def restart_from_snapshot(self) -> None:
        """A replica restored from a snapshot carries on exactly like the original (deadline heap rebuilt)."""
        restored = LockStateMachine()
        restored.restore(self.machine.snapshot())
        self.machine = restored

    @rule(step=st.integers(min_value=0, max_value=60))
    def tick(self, step: int) -> None:
        self._apply({"f": "tick"}, step)

    @invariant()
    def state_matches_spec(self) -> None:
        assert _state_view(self.machine) == _spec_view(self.spec)

    @invariant()
    def swmr_one_exclusive_holder_or_only_shared(self) -> None:
        for lock in self.machine.table.locks.values():
            modes_held = [g.mode for g in lock.holders.values()]
            assert modes_held.count("exclusive") == 0 or len(modes_held) == 1, modes_held

    @invariant()
    def tokens_unique_and_increasing_per_lock(self) -> None:
        """Rule 5: a grant that was not there before has a token above every earlier one of its lock."""
        current = {
            (name, g.owner, g.token)
            for name, lock in self.machine.table.locks.items()
            for g in lock.holders.values()
        }
        for name, owner, token in current - self.grants_seen:
            assert token > self.highest_token.get(name, 0), (name, owner, token, self.highest_token)
        for name, _, token in current:
            self.highest_token[name] = max(self.highest_token.get(name, 0), token)
        tokens = [token for _, _, token in current]
        assert len(set(tokens)) == len(tokens), tokens
        self.grants_seen = current

    @invariant()
    def no_grant_or_wait_outlives_log_time(self) -> None:
        """Rules 3-4: every lease and every wait still present is live at the current log time."""
        now = self.machine.table.log_time_ms
        for lock in self.machine.table.locks.values():
            assert all(g.expires_at_ms > now for g in lock.holders.values())
            assert all(w.deadline_ms > now for w in lock.waiters)

    @invariant()
    def wait_for_graph_acyclic(self) -> None:
        assert find_any_cycle(self.machine.table.wait_for_graph()) is None

    @invariant()
    def fifo_head_is_blocked(self) -> None:
        """A waiter at the head is waiting for a reason: a conflicting holder other than itself."""
        for lock in self.machine.table.locks.values():
            if lock.waiters:
                head = lock.waiters[0]
                assert any(
                    o != head.owner and conflicts(head.mode, g.mode)
                    for o, g in lock.holders.items()
                ), (head, lock.holders)

    @invariant()
    def snapshot_round_trips(self) -> None:
        copy = LockStateMachine()
        copy.restore(self.machine.snapshot())
        assert _state_view(copy) == _state_view(self.machine)
        assert copy.snapshot() == self.machine.snapshot()
        assert copy.table.next_deadline_ms() == self.machine.table.next_deadline_ms()


TestLockTableMatchesSpec = LockTableMatchesSpec.TestCase
