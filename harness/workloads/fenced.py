"""The fenced workload: lock, read-modify-write a shared list, release; lost appends are the bug.

Each operation is one critical section of process ``p``: acquire the key's
exclusive lock (lease ``ttl_ms``, waiting up to ``wait_ms``), read the key's
list, work for ``think_ms``, append ``[token, element]``, write the list back,
release. Elements are
unique, so harness/check/fenced.py can tell whether any acknowledged append
was lost (Jepsen's set-full idea) and whether tokens ever went backwards.

``fencing`` (a WORKLOAD option, ``--workload-opt fencing=false``) chooses the
storage: True (default) reads and writes through the fenced register with
the token (impl/fenced), so a holder whose lease ran out during a pause is
refused; False uses a plain kv key without the token, which is what a
careless client does: under the pause nemesis a write sent to a node that
was just paused sits in its socket until the node resumes, long after the
lease has passed to someone else, then lands and erases their acknowledged
appends,
and the check reports ``invalid`` (tests/lock_integration keep that
demonstration).

History encoding (harness/check/fenced.py):
    append  key k, invoke value e;  ok value {"element": e, "token": t}
            fail: not granted (timeout / deadlock) or refused as fenced
    read    key k (final reads);    ok value [[token, element], ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from harness.check.fenced import check_fenced
from harness.check.verdict import CheckResult
from harness.client.errors import ClientError, OperationFailed, OutcomeUnknown
from harness.history.ops import Op, OpType
from harness.workloads.base import Completion, Operation, Workload


class FencedWorkload(Workload):
    name: ClassVar[str] = "fenced"
    model: ClassVar[str] = "fenced-append"

    def __init__(
        self,
        *,
        keys: int = 4,
        fencing: bool = True,
        ttl_ms: int = 1_000,
        wait_ms: int = 2_000,
        think_ms: int = 500,
    ) -> None:
        self.keys = [f"f{number}" for number in range(1, keys + 1)]
        self.fencing = fencing
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self.think_ms = think_ms
        self._elements = itertools.count(1)

    def generate(self, rng: random.Random) -> Operation:
        return Operation(f="append", key=rng.choice(self.keys), value=next(self._elements))

    async def invoke(self, client: Any, operation: Operation) -> Completion:
        return await self.invoke_as(client, operation, -1)

    async def invoke_as(self, client: Any, operation: Operation, process: int) -> Completion:
        key = operation.key
        try:
            if operation.f == "read":
                return Completion(type=OpType.OK, value=await self._read_final(client, key))
            if operation.f != "append":
                raise ValueError(f"fenced workload cannot run f={operation.f!r}")
            owner = f"p{process}"
            grant = await client.acquire_lock(
                f"fenced-{key}", owner, mode="exclusive", ttl_ms=self.ttl_ms, wait_ms=self.wait_ms
            )
        except OutcomeUnknown as error:
            # A read or an acquire changes no list: "unknown" there is as good as "did not
            # append". An acquire that did succeed is found again by this owner's next acquire
            # (reentrancy returns the same grant) or ends with its lease.
            return Completion(type=OpType.FAIL, error=error.reason)
        except OperationFailed as error:
            if operation.f == "read" and error.code == "not-found":
                return Completion(type=OpType.OK, value=[])
            return Completion(type=OpType.FAIL, error=error.code)
        token = int(grant["token"])
        try:
            return await self._append(client, key, operation.value, token)
        finally:
            with contextlib.suppress(ClientError):
                await client.release_lock(f"fenced-{key}", owner, token)

    async def _append(self, client: Any, key: str, element: int, token: int) -> Completion:
        try:
            current = await self._read(client, key, token)
        except (OutcomeUnknown, OperationFailed) as error:
            # Nothing was written yet: this append certainly did not happen.
            reason = error.reason if isinstance(error, OutcomeUnknown) else error.code
            return Completion(type=OpType.FAIL, error=reason)
        # The work done while holding the lock. A pause that starts now catches the
        # write below in flight, and the lease runs out while it waits.
        await asyncio.sleep(self.think_ms / 1000)
        try:
            if self.fencing:
                await client.fenced_write(key, [*current, [token, element]], token)
            else:
                await client.put(f"fenced-{key}", [*current, [token, element]])
        except OutcomeUnknown as error:
            return Completion(type=OpType.INFO, error=error.reason)
        except OperationFailed as error:
            return Completion(type=OpType.FAIL, error=error.code)
        return Completion(type=OpType.OK, value={"element": element, "token": token})

    async def _read(self, client: Any, key: str, token: int) -> list[Any]:
        try:
            if self.fencing:
                return list(await client.fenced_read(key, token))
            return list(await client.get(f"fenced-{key}"))
        except OperationFailed as error:
            if error.code == "not-found":
                return []
            raise

    async def _read_final(self, client: Any, key: str) -> list[Any]:
        if self.fencing:
            return list(await client.fenced_get(key))
        return list(await client.get(f"fenced-{key}"))

    def final_ops(self) -> list[Operation]:
        return [Operation(f="read", key=key) for key in self.keys]

    @classmethod
    def check(cls, ops: Sequence[Op], *, timeout_s: float, options: dict[str, Any]) -> CheckResult:
        return check_fenced(ops)

    @classmethod
    def lock_holds(cls, ops: Sequence[Op]) -> Sequence[tuple[str, str, int, int]]:
        """(lock, owner, start, end): an acknowledged append's [invoke, ok] interval held the lock."""
        invokes: dict[Any, Op] = {}
        bars = []
        for op in ops:
            if op.f != "append":
                continue
            if op.type is OpType.INVOKE:
                invokes[op.process] = op
            elif op.type is OpType.OK and op.process in invokes:
                start = invokes.pop(op.process).time
                bars.append((f"fenced-{op.key}", f"p{op.process}", start, op.time))
        return bars
