"""Crashes: SIGKILL a random node, the leader, or a minority; restart on stop.

A killed node keeps only what it fsynced, so this is the fault that proves
the persistence rule: no acknowledged write may be lost.
"""

from __future__ import annotations

from typing import ClassVar

from harness.nemesis.context import NemesisContext
from harness.nemesis.fault import Fault

TARGETS = ("random", "leader", "minority")


class KillFault(Fault):
    kind: ClassVar[str] = "kill"

    def __init__(self, *, targets: tuple[str, ...] = TARGETS) -> None:
        self.targets = targets
        self.killed: list[str] = []

    async def _victims(self, target: str, context: NemesisContext) -> list[str]:
        nodes = context.nodes
        if target == "leader":
            return [await context.leader_or_random()]
        if target == "minority":
            size = max(1, (len(nodes) - 1) // 2)
            return sorted(context.rng.sample(nodes, size))
        return [context.rng.choice(nodes)]

    async def start(self, context: NemesisContext) -> str:
        target = context.rng.choice(self.targets)
        victims = await self._victims(target, context)
        for node in victims:
            self.killed.append(node)
            await context.backend.kill_node(node)
        return f"{target}: killed {' '.join(victims)}"

    async def stop(self, context: NemesisContext) -> str:
        restarted = sorted(set(self.killed))
        self.killed.clear()
        for node in restarted:
            await context.backend.start_node(node)
        return f"restarted {' '.join(restarted)}"

    async def heal(self, context: NemesisContext) -> None:
        if self.killed:
            await self.stop(context)
