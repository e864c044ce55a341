"""The node's only source of time, with a test-settable offset.

Theory of operation: the runtime never calls ``time`` directly; it asks a
``Clock``. ``wall_ms`` is the wall clock plus ``offset_ms``; the offset is
what the harness's clock nemesis moves (``PUT /_test/clock``). Every decision
that looks at wall time sees the offset: the leader's ``Command.stamp_ms``
(which lock leases are measured against) and anything a service computes
from ``wall_ms``.

``monotonic`` deliberately ignores the offset. It drives tick scheduling and
timeouts, so a skewed node still ticks at the normal rate: a clock offset
models a wrong wall clock (NTP gone bad), not a CPU running fast or slow.
This is documented in docs/configuration.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    """Wall time in ms (offset applied) and monotonic seconds (never offset)."""

    def __init__(
        self,
        *,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall_ns = wall_ns
        self._monotonic = monotonic
        self.offset_ms = 0

    def wall_ms(self) -> int:
        """Milliseconds since the Unix epoch as this node believes it, offset included."""
        return self._wall_ns() // 1_000_000 + self.offset_ms

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; only differences mean anything."""
        return self._monotonic()

    def set_offset_ms(self, offset_ms: int) -> None:
        self.offset_ms = int(offset_ms)
