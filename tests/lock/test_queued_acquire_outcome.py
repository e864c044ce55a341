"""Once an acquire is queued (committed), losing the leader while waiting is "unknown", not "no".

A run under a partition caught the old mapping: the waiter's cancel got 503, the
client recorded the acquire as failed, and the still-queued request was granted
later (its token came back on the owner's next acquire of the same mode).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from impl.runtime.api.locks import register
from impl.runtime.clock import Clock
from impl.runtime.http_message import Request
from impl.runtime.http_router import RouteTable
from impl.runtime.outcomes import OutcomeUnknown, Unavailable


class LeaderLostWhileWaiting:
    """Queues the acquire, then every later proposal (and, if asked, every read) gets 503."""

    node_id = "n1"

    def __init__(self, *, reads_refused: bool) -> None:
        self.clock = Clock()
        self.reads_refused = reads_refused
        self.proposed: list[dict[str, Any]] = []

    async def propose(self, service: str, op: dict[str, Any]) -> Any:
        self.proposed.append(op)
        if op["f"] == "acquire":
            return {"ok": True, "queued": True, "request": 854}
        raise Unavailable("rejected: not-leader")

    async def read(self, service: str, query: dict[str, Any]) -> Any:
        if self.reads_refused:
            raise Unavailable("rejected: not-leader")
        return {"ok": True, "state": "waiting"}

    async def wait_state_changed(self, timeout_s: float) -> bool:
        await asyncio.sleep(min(timeout_s, 0.01))
        return False

    def is_leader(self) -> bool:
        return False


def _acquire_handler(host: LeaderLostWhileWaiting) -> Any:
    routes = RouteTable()
    register(routes, host)  # type: ignore[arg-type]
    [route] = [r for r in routes if r.method == "POST" and r.path.endswith("/acquire")]
    return route.handler


@pytest.mark.parametrize("reads_refused", [False, True], ids=["cancel-refused", "wait-refused"])
def test_a_queued_acquire_that_loses_the_leader_is_outcome_unknown(reads_refused: bool) -> None:
    host = LeaderLostWhileWaiting(reads_refused=reads_refused)
    body = {"owner": "p1", "mode": "shared", "ttl_ms": 10_000, "wait_ms": 30}
    request = Request("POST", "/locks/lock3/acquire", body=json.dumps(body).encode())
    request.match_info = {"name": "lock3"}
    with pytest.raises(OutcomeUnknown, match="may still be granted"):
        asyncio.run(_acquire_handler(host)(request))
    expected = ["acquire"] if reads_refused else ["acquire", "cancel"]
    assert [op["f"] for op in host.proposed] == expected
