"""The event loop a node runs on: uvloop when installed, else the stdlib loop.

uvloop roughly doubles socket throughput; the node, the replication bench's
in-process node and the bench load generators all start their loops here, so
a benchmark measures the loop a deployed node uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("sinkron")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``asyncio.Runner``'s ``loop_factory``: uvloop's, or None for the stdlib default."""
    try:
        import uvloop
    except ImportError:
        return None
    log.info("event loop: uvloop %s", uvloop.__version__)
    return uvloop.new_event_loop
