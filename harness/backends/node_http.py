"""The two HTTP calls every backend makes to its nodes: wait for /health, set the test clock.

Backends differ in how they start nodes and where the logs are, not in how a
node says it is up or how its clock is skewed; these live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import aiohttp

from harness.backends.base import BackendError


async def wait_healthy(
    base_url: str,
    *,
    timeout_s: float,
    poll_s: float = 0.2,
    gave_up: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """True once ``GET /health`` answers 200; False at the deadline or when ``gave_up()`` says so.

    ``gave_up`` lets a backend stop waiting for a node that has already exited,
    so it can report why at once instead of at the deadline.
    """
    url = f"{base_url}/health"
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
            if gave_up is not None and await gave_up():
                return False
            await asyncio.sleep(poll_s)
    return False


async def set_clock_offset(node: str, base_url: str, offset_ms: int) -> None:
    """``PUT /_test/clock``.

    Raises:
        BackendError: the node refused (test hooks off?) or could not be reached.
    """
    url = f"{base_url}/_test/clock"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.put(url, json={"offset_ms": int(offset_ms)}) as response,
        ):
            body = await response.text()
            if response.status >= 300:
                raise BackendError(
                    f"{node}: PUT /_test/clock gave {response.status}: {body[:200]}"
                    " (was the node started with SINKRON_TEST_HOOKS=1?)"
                )
    except (aiohttp.ClientError, TimeoutError) as error:
        raise BackendError(f"{node}: PUT /_test/clock failed: {error!r}") from error
