"""Client workers: each is a Jepsen process talking to one node, sharing one rate limit.

Theory of operation: worker w talks to node ``nodes[w % len(nodes)]`` (round
robin) so that requests to followers exercise forwarding. It draws an
operation, records the invoke, runs it, records the completion. After an
``info`` the worker takes a fresh process id from the shared counter and never
uses the old one again (DESIGN.md "History format"): the old process may
still have an operation in flight as far as the checker knows.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any

from harness.history.ops import OpType
from harness.run.ratelimit import TokenBucket
from harness.run.recorder import Recorder
from harness.workloads.base import Operation, Workload


class ProcessIds:
    """Hands out process ids 0, 1, 2, ... never twice."""

    def __init__(self) -> None:
        self._counter: Iterator[int] = itertools.count()

    def next(self) -> int:
        return next(self._counter)


async def run_one(
    workload: Workload, client: Any, recorder: Recorder, process: int, operation: Operation
) -> OpType:
    """Record invoke, run, record completion; return the completion type."""
    invoke = recorder.invoke(process, operation.f, operation.key, operation.value)
    completion = await workload.run(client, operation, process)
    recorder.complete(invoke, completion.type, completion.value, completion.error)
    return completion.type


async def worker(
    *,
    workload: Workload,
    client: Any,
    recorder: Recorder,
    process_ids: ProcessIds,
    bucket: TokenBucket,
    rng: random.Random,
    should_stop: Callable[[], bool],
) -> None:
    """Issue operations until ``should_stop()``; the process id changes after every info."""
    process = process_ids.next()
    while not should_stop():
        await bucket.take()
        if should_stop():
            return
        outcome = await run_one(
            workload, client, recorder, process, workload.generate_for(process, rng)
        )
        if outcome is OpType.INFO:
            workload.retire(process)
            process = process_ids.next()


async def run_workers(
    *,
    workload: Workload,
    clients: list[Any],
    recorder: Recorder,
    process_ids: ProcessIds,
    rate_per_s: float,
    rng: random.Random,
    should_stop: Callable[[], bool],
) -> None:
    """One worker per client; each worker gets its own rng drawn from ``rng`` (Rule 1 of base.py)."""
    bucket = TokenBucket(rate_per_s)
    await asyncio.gather(
        *(
            worker(
                workload=workload,
                client=client,
                recorder=recorder,
                process_ids=process_ids,
                bucket=bucket,
                rng=random.Random(rng.getrandbits(64)),
                should_stop=should_stop,
            )
            for client in clients
        )
    )
