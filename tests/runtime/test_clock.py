"""The injectable clock: the offset moves wall time, never monotonic time."""

from __future__ import annotations

from impl.runtime.clock import Clock


def test_offset_moves_wall_time_but_not_monotonic_time() -> None:
    """Skew changes what the node believes the date is, not how fast it ticks."""
    clock = Clock(wall_ns=lambda: 5_000_000_000, monotonic=lambda: 12.5)
    assert clock.wall_ms() == 5000
    clock.set_offset_ms(-1500)
    assert clock.wall_ms() == 3500
    assert clock.monotonic() == 12.5
