"""The shape of one nemesis kind: start a fault, stop it, and heal at the end.

Theory of operation: the scheduler alternates quiet periods and fault
windows. In a window it calls ``start`` on one fault (drawn from the enabled
kinds with the run's seeded rng), waits, then calls ``stop``. ``heal`` is the
end-of-run cleanup and must undo anything a fault may have left behind even
if ``start`` or ``stop`` was interrupted half way, so it is idempotent and
never trusts the fault's own bookkeeping alone.

Rules:
  Rule 1. ``start`` returns a one-line, human-readable detail ("isolated n2",
          "killed n1 n3"); it goes into the history and the report.
  Rule 2. ``stop`` undoes exactly what ``start`` did and returns a detail too.
  Rule 3. A fault reaches the cluster only through ``NemesisContext``.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from harness.nemesis.context import NemesisContext


class Fault(abc.ABC):
    kind: ClassVar[str]  # "partition", "kill", "pause", "clock"

    @abc.abstractmethod
    async def start(self, context: NemesisContext) -> str: ...

    @abc.abstractmethod
    async def stop(self, context: NemesisContext) -> str: ...

    @abc.abstractmethod
    async def heal(self, context: NemesisContext) -> None: ...
