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
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.history.ops import OpType


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

    async def run(self, client: Any, operation: Operation) -> Completion:
        """``invoke`` with Rule 2 enforced: an escaped exception becomes ``info``."""
        try:
            return await self.invoke(client, operation)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            return Completion(type=OpType.INFO, error=f"{type(error).__name__}: {error}")
