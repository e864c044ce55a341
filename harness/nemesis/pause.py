"""Process pauses: SIGSTOP a random node or the leader, SIGCONT on stop.

A paused leader keeps its sockets open and believes it still leads when it
wakes up; Raft must depose it by term, and reads must not be served from it.
"""

from __future__ import annotations

from typing import ClassVar

from harness.nemesis.context import NemesisContext
from harness.nemesis.fault import Fault

TARGETS = ("random", "leader")


class PauseFault(Fault):
    kind: ClassVar[str] = "pause"

    def __init__(self, *, targets: tuple[str, ...] = TARGETS) -> None:
        self.targets = targets
        self.paused: list[str] = []

    async def start(self, context: NemesisContext) -> str:
        target = context.rng.choice(self.targets)
        node = (
            await context.leader_or_random()
            if target == "leader"
            else context.rng.choice(context.nodes)
        )
        self.paused.append(node)
        await context.backend.pause_node(node)
        return f"{target}: paused {node}"

    async def stop(self, context: NemesisContext) -> str:
        resumed = sorted(set(self.paused))
        self.paused.clear()
        for node in resumed:
            await context.backend.resume_node(node)
        return f"resumed {' '.join(resumed)}"

    async def heal(self, context: NemesisContext) -> None:
        # Resume everyone: a SIGCONT to a running process is harmless, and an
        # interrupted start may have stopped a node before it was recorded.
        self.paused.clear()
        for node in context.nodes:
            await context.backend.resume_node(node)
