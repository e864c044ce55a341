"""The lock workload's process bookkeeping (harness/workloads/lock.py)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from harness.client.errors import OutcomeUnknown
from harness.history.ops import OpType
from harness.workloads.lock import LockWorkload


class FakeLockClient:
    """Grants every acquire with increasing tokens; release outcomes are scripted."""

    def __init__(self) -> None:
        self.token = 0
        self.released: list[tuple[str, str, int]] = []
        self.release_unknown = False

    async def acquire_lock(self, name: str, owner: str, **options: Any) -> dict[str, Any]:
        self.token += 1
        return {"token": self.token, "mode": options["mode"], "expires_at_ms": 0}

    async def release_lock(self, name: str, owner: str, token: int) -> None:
        if self.release_unknown:
            raise OutcomeUnknown("timeout", url="fake")
        self.released.append((name, owner, token))


def test_retired_process_grants_are_released_by_the_next_operation_naming_the_old_owner() -> None:
    """A grant the retired process held is released in the history, so the lease-free model stays right."""
    workload = LockWorkload(locks=1, max_held=1, mode_change_share=0.0)
    client = FakeLockClient()
    rng = random.Random(1)
    acquire = workload.generate_for(3, rng)
    assert asyncio.run(workload.invoke_as(client, acquire, 3)).type is OpType.OK
    workload.retire(3)
    release = workload.generate_for(4, rng)
    assert (release.f, release.key, release.value) == (
        "release",
        "lock1",
        {"owner": "p3", "token": 1},
    )
    assert asyncio.run(workload.invoke_as(client, release, 4)).type is OpType.OK
    assert client.released == [("lock1", "p3", 1)]


def test_release_with_unknown_outcome_is_retried_after_retirement() -> None:
    """An info release may not have happened: the grant is handed on and released again."""
    workload = LockWorkload(locks=1, max_held=1, mode_change_share=0.0)
    client = FakeLockClient()
    rng = random.Random(2)
    asyncio.run(workload.invoke_as(client, workload.generate_for(0, rng), 0))
    release = workload.generate_for(0, rng)
    client.release_unknown = True
    assert asyncio.run(workload.invoke_as(client, release, 0)).type is OpType.INFO
    workload.retire(0)
    assert workload.generate_for(1, rng).value == {"owner": "p0", "token": 1}


def test_release_refused_as_unavailable_is_handed_to_another_process() -> None:
    """A 503 release did not happen; the hold goes to the next process (likely on a live node)."""
    from harness.client.errors import Unavailable

    class DownNodeClient(FakeLockClient):
        async def release_lock(self, name: str, owner: str, token: int) -> None:
            raise Unavailable("unavailable", {}, status=503)

    workload = LockWorkload(locks=1, max_held=1, mode_change_share=0.0)
    client = DownNodeClient()
    rng = random.Random(3)
    asyncio.run(workload.invoke_as(client, workload.generate_for(0, rng), 0))
    release = workload.generate_for(0, rng)
    assert asyncio.run(workload.invoke_as(client, release, 0)).type is OpType.FAIL
    assert workload.generate_for(5, rng).value == {"owner": "p0", "token": 1}
