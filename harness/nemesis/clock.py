"""Clock skew through the nodes' test hook: bump, strobe, reset.

Raft itself needs no synchronized clocks, but lease-based services and any
"read from a lease" shortcut do; skew is how the harness shows which
guarantees survive it. Offsets are in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from harness.nemesis.context import NemesisContext
from harness.nemesis.fault import Fault

MODES = ("bump", "strobe")


class ClockFault(Fault):
    """``bump``: shift some nodes by +-N ms; ``strobe``: flip a node's offset rapidly until stopped."""

    kind: ClassVar[str] = "clock"

    def __init__(
        self,
        *,
        modes: tuple[str, ...] = MODES,
        bump_ms_max: int = 5_000,
        strobe_period_s: float = 0.05,
    ) -> None:
        self.modes = modes
        self.bump_ms_max = bump_ms_max
        self.strobe_period_s = strobe_period_s
        self._strobe: asyncio.Task[None] | None = None

    async def _strobe_loop(self, context: NemesisContext, node: str, offset_ms: int) -> None:
        flip = False
        while True:
            flip = not flip
            with contextlib.suppress(Exception):  # a strobe must survive one failed hook call
                await context.backend.set_clock_offset(node, offset_ms if flip else 0)
            await asyncio.sleep(self.strobe_period_s)

    async def start(self, context: NemesisContext) -> str:
        mode = context.rng.choice(self.modes)
        rng = context.rng
        if mode == "strobe":
            node = rng.choice(context.nodes)
            offset_ms = rng.choice([-1, 1]) * rng.randint(
                self.bump_ms_max // 10 or 1, self.bump_ms_max
            )
            self._strobe = asyncio.create_task(self._strobe_loop(context, node, offset_ms))
            return f"strobe {node} between 0 and {offset_ms:+d} ms"
        count = rng.randint(1, len(context.nodes))
        bumps = []
        for node in sorted(rng.sample(context.nodes, count)):
            offset_ms = rng.choice([-1, 1]) * rng.randint(1, self.bump_ms_max)
            await context.backend.set_clock_offset(node, offset_ms)
            bumps.append(f"{node} {offset_ms:+d} ms")
        return "bump " + ", ".join(bumps)

    async def _stop_strobe(self) -> None:
        if self._strobe is not None:
            self._strobe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._strobe
            self._strobe = None

    async def stop(self, context: NemesisContext) -> str:
        await self._stop_strobe()
        for node in context.nodes:
            await context.backend.set_clock_offset(node, 0)
        return "reset clocks"

    async def heal(self, context: NemesisContext) -> None:
        await self.stop(context)
