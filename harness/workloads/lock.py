"""The lock workload: processes acquire and release shared/exclusive locks on a few names.

Each process is a lock owner (``p<process>``) holding at most ``max_held``
locks; its next operation releases one it holds, acquires another (a
try-lock, or a short wait), or, with ``mode_change_share`` > 0, asks for
the other mode of a lock it holds: an upgrade or a downgrade. That is off by
default: an upgrade whose outcome is unknown replaces a known grant with one
whose token nobody knows, so no one can release it and only its lease ends
it, which the lease-free model reports as an overlap. Fault-free runs with
mode changes are fine. Holding two locks while waiting lets the lock
manager's deadlock refusal happen under faults. The history is checked per
lock name as linearizable against the "rwlock" model (spec/models/rwlock.py),
which also requires each new token to exceed every earlier one.

History encoding (spec/models/rwlock.py):
    acquire  key name, invoke value {"mode", "owner"}; ok value {"token", "mode", "owner"}
             408 timeout / 409 deadlock are ``fail`` (certainly not granted)
    release  key name, invoke value {"owner", "token"}; ok; 409 not-held is ``fail``

Leases are not in the model, so the TTL (``ttl_ms``, default 10 s) is far
longer than any hold: a release that is late by a whole TTL would be
reported as an overlap. A process that ends in ``info`` is retired; the
grants it held (and a release whose outcome is unknown) are released by the
next operations of other processes, naming the retired owner.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from harness.client.errors import OperationFailed, OutcomeUnknown
from harness.history.ops import Op, OpType
from harness.workloads.base import Completion, Operation, Workload


def owner_of(process: int) -> str:
    return f"p{process}"


class LockWorkload(Workload):
    name: ClassVar[str] = "lock"
    model: ClassVar[str] = "rwlock"

    def __init__(
        self,
        *,
        locks: int = 3,
        shared_share: float = 0.4,
        wait_share: float = 0.3,
        wait_ms: int = 500,
        ttl_ms: int = 10_000,
        max_held: int = 2,
        mode_change_share: float = 0.0,
    ) -> None:
        self.names = [f"lock{number}" for number in range(1, locks + 1)]
        self.shared_share = shared_share
        self.wait_share = wait_share
        self.wait_ms = wait_ms
        self.ttl_ms = ttl_ms
        self.max_held = max_held
        self.mode_change_share = mode_change_share
        self.modes: dict[tuple[int, str], str] = {}  # (process, name) -> mode held
        self.held: dict[int, dict[str, int]] = {}  # process -> {name: token}
        self.orphans: list[tuple[str, str, int]] = []  # (owner, name, token) of retired processes

    def generate(self, rng: random.Random) -> Operation:
        return self.generate_for(-1, rng)

    def generate_for(self, process: int, rng: random.Random) -> Operation:
        if self.orphans:
            owner, name, token = self.orphans.pop(0)
            return Operation(f="release", key=name, value={"owner": owner, "token": token})
        held = self.held.setdefault(process, {})
        free = [name for name in self.names if name not in held]
        if held and rng.random() < self.mode_change_share:
            # Reentrancy: upgrade a shared hold or downgrade an exclusive one (docs/locks.md, Rule 6).
            name = rng.choice(sorted(held))
            mode = "shared" if self.modes.get((process, name)) == "exclusive" else "exclusive"
            wait_ms = self.wait_ms if rng.random() < self.wait_share else 0
            return Operation(
                f="acquire",
                key=name,
                value={"mode": mode, "owner": owner_of(process), "wait_ms": wait_ms},
            )
        if held and (len(held) >= self.max_held or not free or rng.random() < 0.6):
            name = rng.choice(sorted(held))
            return Operation(
                f="release", key=name, value={"owner": owner_of(process), "token": held[name]}
            )
        mode = "shared" if rng.random() < self.shared_share else "exclusive"
        wait_ms = self.wait_ms if rng.random() < self.wait_share else 0
        value = {"mode": mode, "owner": owner_of(process), "wait_ms": wait_ms}
        return Operation(f="acquire", key=rng.choice(free), value=value)

    async def invoke(self, client: Any, operation: Operation) -> Completion:
        return await self.invoke_as(client, operation, -1)

    async def invoke_as(self, client: Any, operation: Operation, process: int) -> Completion:
        name, value = operation.key, operation.value
        held = self.held.setdefault(process, {})
        try:
            if operation.f == "acquire":
                grant = await client.acquire_lock(
                    name,
                    value["owner"],
                    mode=value["mode"],
                    ttl_ms=self.ttl_ms,
                    wait_ms=value["wait_ms"],
                )
                held[name] = int(grant["token"])
                self.modes[(process, name)] = grant["mode"]
                return Completion(
                    type=OpType.OK,
                    value={"token": grant["token"], "mode": grant["mode"], "owner": value["owner"]},
                )
            if operation.f == "release":
                await client.release_lock(name, value["owner"], value["token"])
                self._forget(process, operation)
                return Completion(type=OpType.OK, value=value)
        except OutcomeUnknown as error:
            # An unknown release stays held: retire() (or the orphan list) has it released again.
            if operation.f == "release":
                self._retry_orphan(process, operation)
            return Completion(type=OpType.INFO, error=error.reason)
        except OperationFailed as error:
            if operation.f == "release" and error.code == "not-held":
                self._forget(process, operation)
            elif operation.f == "release":
                # It did NOT happen (503: this process's node is down or cut off): still held.
                # Hand it to whichever process runs next, likely one on a reachable node, so
                # the release comes before the lease would end it (leases are not in the model).
                self._forget(process, operation)
                self.orphans.append(
                    (operation.value["owner"], operation.key, operation.value["token"])
                )
            return Completion(type=OpType.FAIL, error=error.code)
        raise ValueError(f"lock workload cannot run f={operation.f!r}")

    def _retry_orphan(self, process: int, release: Operation) -> None:
        """Another owner's release whose outcome is unknown goes back on the orphan list."""
        owner = release.value["owner"]
        if owner != owner_of(process):
            self.orphans.append((owner, release.key, release.value["token"]))

    def _forget(self, process: int, release: Operation) -> None:
        held = self.held.get(process, {})
        if (
            release.value["owner"] == owner_of(process)
            and held.get(release.key) == release.value["token"]
        ):
            del held[release.key]

    def retire(self, process: int) -> None:
        """Hand the retired process's grants to the next operations, which release them.

        The rwlock model has no leases: a grant that is never released would
        hold forever in the model, while the real lease frees it, and the next
        holder would look like an overlap. Any process may release them: the
        release names the retired owner.
        """
        held = self.held.pop(process, {})
        self.orphans += [(owner_of(process), name, token) for name, token in sorted(held.items())]

    def final_ops(self) -> list[Operation]:
        return []

    @classmethod
    def lock_holds(cls, ops: Sequence[Op]) -> Sequence[tuple[str, str, int, int]]:
        return hold_bars(ops)


def hold_bars(ops: Sequence[Op]) -> list[tuple[str, str, int, int]]:
    """(lock, owner, start_ns, end_ns): from an ok acquire to the invoke of its release.

    The order is harness/report/timeline.py's (``render_timeline(lock_holds=...)``).

    A hold whose release never came (the process was retired) ends at the
    history's last time: the lease held it at least that long as far as a
    client could tell.
    """
    end_of_history = max((op.time for op in ops), default=0)
    open_holds: dict[tuple[str, Any], int] = {}
    bars: list[tuple[str, str, int, int]] = []
    for op in ops:
        value = op.value if isinstance(op.value, dict) else {}
        owner = str(value.get("owner", op.process))
        if op.f == "acquire" and op.type is OpType.OK:
            open_holds.setdefault((owner, op.key), op.time)
        elif op.f == "release" and op.type is OpType.INVOKE:
            start = open_holds.pop((owner, op.key), None)
            if start is not None:
                bars.append((str(op.key), owner, start, op.time))
    bars += [(str(key), owner, start, end_of_history) for (owner, key), start in open_holds.items()]
    return sorted(bars, key=lambda bar: bar[2])
