"""What every fault needs from the outside world, bundled so faults stay testable.

Faults reach the cluster only through the ``Backend`` interface and learn who
leads through an injected ``find_leader`` coroutine, so a unit test can drive
them with an in-memory backend and a canned leader.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.backends.base import Backend

LeaderFinder = Callable[[], Awaitable[str | None]]


@dataclass(slots=True, kw_only=True)
class NemesisContext:
    backend: Backend
    rng: random.Random
    find_leader: LeaderFinder

    @property
    def nodes(self) -> list[str]:
        return list(self.backend.node_ids)

    async def leader_or_random(self) -> str:
        """The current leader when one is known, else a random node (a leaderless cluster is a fine target too)."""
        leader = await self.find_leader()
        if leader in self.nodes:
            return leader
        return self.rng.choice(self.nodes)
