"""A token bucket shared by all workers: ``--rate`` ops/s in total, bursts up to one second's worth."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate_per_s: float, *, burst: float | None = None) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate must be positive (ops per second over all workers)")
        self.rate_per_s = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._tokens = 0.0
        self._updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now

    async def take(self) -> None:
        """Wait until one token is available and consume it."""
        while True:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate_per_s)
