"""``wait_state_changed``: woken by the next applied batch, False on timeout, nothing left behind."""

from __future__ import annotations

import asyncio

from impl.runtime.config import collect_raw, validate
from impl.runtime.node import Node


def _node() -> Node:
    raw = collect_raw(
        {},
        {"SINKRON_NODE_ID": "n1", "SINKRON_PEERS": "n1=127.0.0.1:1", "SINKRON_CLUSTER_SECRET": "s"},
        None,
    )
    node = Node(validate(raw))
    node.loop = asyncio.get_running_loop()  # what start() sets
    return node


def test_a_waiter_wakes_on_the_next_apply_and_timeouts_leave_no_waiter_behind() -> None:
    async def scenario() -> None:
        node = _node()
        for _ in range(50):  # a lock client polling while nothing is applied
            assert await node.wait_state_changed(0.001) is False
        assert node._state_waiters == []
        waiting = asyncio.ensure_future(node.wait_state_changed(5.0))
        await asyncio.sleep(0)
        assert not waiting.done()
        node._after_apply()
        assert await waiting is True
        assert node._state_waiters == []

    asyncio.run(scenario())
