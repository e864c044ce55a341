"""The nemesis scheduler: quiet, fault, quiet, fault ... then heal everything.

Theory of operation: one asyncio task alternates a quiet period (drawn from
``quiet_s``) with a fault window (drawn from ``fault_s``). Fault kinds are
dealt from a deck shuffled with the run's seeded rng: every kind asked for
comes once before any comes again, so a short ``--nemesis partition,kill,pause``
run sees all three instead of whatever independent draws happen to give. Each start and stop is recorded twice: as a
Jepsen-style ``info`` op of process "nemesis" in the history (f
``start-<kind>`` / ``stop-<kind>``) and as a window ``(start_ns, end_ns,
label)`` that the reports shade. ``heal_all`` runs at the end whatever
happened: resume paused nodes, restart killed ones, heal the network, reset
clocks, in that order (a paused or dead node cannot take a clock reset).

Rules:
  Rule 1. Only one fault is active at a time, so every window has one cause.
  Rule 2. Every backend call is bounded by ``action_timeout_s``; a failed or
          timed-out action is recorded (value "error: ...") and the run goes on.
  Rule 3. ``heal_all`` closes any window left open by a cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from harness.nemesis.context import NemesisContext
from harness.nemesis.fault import Fault

HEAL_ORDER = ("pause", "kill", "partition", "clock")

Window = tuple[int, int, str]


class NemesisRecorder(Protocol):
    def now_ns(self) -> int: ...

    def record_nemesis(self, f: str, value: str) -> None: ...


class NemesisScheduler:
    def __init__(
        self,
        faults: list[Fault],
        context: NemesisContext,
        recorder: NemesisRecorder,
        *,
        quiet_s: tuple[float, float] = (3.0, 5.0),
        fault_s: tuple[float, float] = (3.0, 8.0),
        action_timeout_s: float = 10.0,
    ) -> None:
        self.faults = faults
        self.context = context
        self.recorder = recorder
        self.quiet_s = quiet_s
        self.fault_s = fault_s
        self.action_timeout_s = action_timeout_s
        self.windows: list[Window] = []
        self.events: list[dict[str, object]] = []
        self.active: str | None = None  # label of the fault in force, for the progress line
        self._open: tuple[int, str, Fault] | None = None

    def _record(self, f: str, kind: str, value: str) -> None:
        self.recorder.record_nemesis(f, value)
        self.events.append({"time": self.recorder.now_ns(), "f": f, "kind": kind, "value": value})

    async def _act(self, action: Callable[[NemesisContext], Awaitable[str | None]]) -> str:
        try:
            detail = await asyncio.wait_for(action(self.context), self.action_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a failing fault must not end the run (Rule 2)
            return f"error: {type(error).__name__}: {error}"
        return detail or ""

    async def _sleep_until(self, deadline_ns: int, seconds: float) -> bool:
        """Sleep ``seconds`` or until the deadline; True when the deadline came first."""
        remaining_s = (deadline_ns - self.recorder.now_ns()) / 1e9
        await asyncio.sleep(max(0.0, min(seconds, remaining_s)))
        return seconds >= remaining_s

    async def run(self, deadline_ns: int) -> None:
        """Inject faults until ``deadline_ns`` (harness clock); returns with no fault active."""
        rng = self.context.rng
        deck: list[Fault] = []
        while self.faults:
            if await self._sleep_until(deadline_ns, rng.uniform(*self.quiet_s)):
                return
            if not deck:
                deck = list(self.faults)
                rng.shuffle(deck)
            fault = deck.pop()
            await self._start(fault)
            await self._sleep_until(deadline_ns, rng.uniform(*self.fault_s))
            await self._stop()
        await self._sleep_until(deadline_ns, (deadline_ns - self.recorder.now_ns()) / 1e9)

    async def _start(self, fault: Fault) -> None:
        start_ns = self.recorder.now_ns()
        self._open = (start_ns, fault.kind, fault)
        self.active = fault.kind
        detail = await self._act(fault.start)
        self._open = (start_ns, f"{fault.kind}: {detail}", fault)
        self.active = f"{fault.kind}: {detail}"
        self._record(f"start-{fault.kind}", fault.kind, detail)

    async def _stop(self) -> None:
        if self._open is None:
            return
        start_ns, label, fault = self._open
        detail = await self._act(fault.stop)
        self._record(f"stop-{fault.kind}", fault.kind, detail)
        self.windows.append((start_ns, self.recorder.now_ns(), label))
        self._open = None
        self.active = None

    async def heal_all(self) -> None:
        """End of run: undo every fault kind, whether or not it is believed active (Rule 3)."""
        if self._open is not None:
            start_ns, label, _fault = self._open
            self.windows.append((start_ns, self.recorder.now_ns(), label))
            self._open = None
        self.active = None
        by_kind = {fault.kind: fault for fault in self.faults}
        for kind in HEAL_ORDER:
            fault = by_kind.get(kind)
            if fault is None:
                continue

            async def heal(context: NemesisContext, fault: Fault = fault) -> str:
                await fault.heal(context)
                return "healed"

            self._record(f"heal-{kind}", kind, await self._act(heal))
