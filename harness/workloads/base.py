"""The workload framework: what to ask the cluster, how, and how to record the answer.

Theory of operation: a workload is a generator of operations plus an
interpreter that runs one operation against a client and classifies the
outcome the way Jepsen does:

- ``ok``: it happened, with this result;
- ``fail``: it certainly did not happen (503 unavailable, cas-mismatch, ...);
- ``info``: it may or may not have happened (timeout, connection lost after
  sending, 504). The worker that saw it takes a fresh process id.

The workload also names the checker model (``model``) and the operations to
run once the cluster has healed (``final_ops``: read every key, so that lost
acknowledged writes show up).

Hooks with defaults, for workloads that need more than the simple shape:
  * ``generate_for(process, rng)`` / ``invoke_as(client, operation, process)``:
    per-process state (a lock workload alternates acquire and release and
    uses the process as the lock owner);
  * ``retire(process)``: the process ended in ``info`` and is never used again;
  * ``check(ops, timeout_s=..., options=...)`` (classmethod): the verdict; by
    default the linearizability checker with ``model``. ``harness report``
    calls it too, with the options the run used;
  * ``lock_holds(ops)`` (classmethod): (lock, owner, start_ns, end_ns) bars
    for timeline.html.
Constructor keyword arguments come from ``--workload-opt KEY=VALUE``.

Rules:
  Rule 1. ``generate`` draws only from the rng it is given (seeded runs repeat).
  Rule 2. ``invoke`` never raises for a cluster outcome: it returns a
          ``Completion``; anything unexpected is ``info``, never ``fail``,
          because claiming "did not happen" without proof can hide a bug.
"""

from __future__ import annotations

import abc
import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.check.verdict import CheckResult
from harness.history.ops import Op, OpType


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """What a worker is about to do; becomes the ``invoke`` line of the history."""

    f: str
    key: Any = None
    value: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """How it ended; becomes the completion line (ok / fail / info)."""

    type: OpType
    value: Any = None
    error: Any = None


class Workload(abc.ABC):
    name: ClassVar[str]
    model: ClassVar[str]  # checker model, e.g. "kv"

    @abc.abstractmethod
    def generate(self, rng: random.Random) -> Operation: ...

    @abc.abstractmethod
    async def invoke(self, client: Any, operation: Operation) -> Completion: ...

    @abc.abstractmethod
    def final_ops(self) -> list[Operation]: ...

    def generate_for(self, process: int, rng: random.Random) -> Operation:
        """The next operation of ``process``; override when processes keep state."""
        return self.generate(rng)

    async def invoke_as(self, client: Any, operation: Operation, process: int) -> Completion:
        """Run ``operation`` on behalf of ``process``; override when the process is part of the request."""
        return await self.invoke(client, operation)

    def retire(self, process: int) -> None:  # noqa: B027 (an optional hook, empty on purpose)
        """``process`` ended in ``info`` and will never be used again."""

    @classmethod
    def check(cls, ops: Sequence[Op], *, timeout_s: float, options: dict[str, Any]) -> CheckResult:
        """The run's verdict over its client ops; default: linearizability against ``model``."""
        from harness.run.analysis import check_history

        return check_history(ops, cls.model, timeout_s=timeout_s)

    @classmethod
    def lock_holds(cls, ops: Sequence[Op]) -> Sequence[tuple[str, str, int, int]]:
        """(lock, owner, start_ns, end_ns) hold bars for the timeline; none by default."""
        return ()

    async def run(self, client: Any, operation: Operation, process: int = -1) -> Completion:
        """``invoke_as`` with Rule 2 enforced: an escaped exception becomes ``info``."""
        try:
            return await self.invoke_as(client, operation, process)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return Completion(type=OpType.INFO, error=f"{type(error).__name__}: {error}")
