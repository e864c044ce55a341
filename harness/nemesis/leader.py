"""Find the current Raft leader by asking nodes for /status.

A node that is partitioned away may still believe it leads (until
CheckQuorum steps it down), so a leader is trusted only when reported by the
majority of the nodes that answered, and the highest term wins.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import aiohttp


async def _status(session: aiohttp.ClientSession, url: str) -> dict | None:
    try:
        async with session.get(f"{url}/status") as response:
            if response.status != 200:
                return None
            body = await response.json()
            return body if isinstance(body, dict) else None
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


async def find_leader(
    node_ids: list[str], client_url: Callable[[str], str], *, timeout_s: float = 1.0
) -> str | None:
    """The node most answering nodes name as leader in the highest term seen, or None."""
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        statuses = await asyncio.gather(*(_status(session, client_url(node)) for node in node_ids))
    answers = [status for status in statuses if status is not None]
    if not answers:
        return None
    top_term = max(int(status.get("term") or 0) for status in answers)
    votes = Counter(
        status.get("leader")
        for status in answers
        if int(status.get("term") or 0) == top_term and status.get("leader")
    )
    if not votes:
        return None
    leader, _ = votes.most_common(1)[0]
    return str(leader)
