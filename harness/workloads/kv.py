"""The kv workload: read / write / cas over a few keys, checked per key as a cas-register.

Every write and cas writes a value never written before (a global counter),
so a read names exactly one write, which makes both the checker's pruning and
a human reading a counterexample much faster.

History encoding (the checker's "kv" model, knossos style):
    read:  invoke value None,            ok value v (None when not-found)
    write: invoke value v,               ok value v
    cas:   invoke value [expected, new], ok value [expected, new];
           a cas-mismatch is ``fail`` (it certainly did not apply)
"""

from __future__ import annotations

import itertools
import random
from typing import Any, ClassVar

from harness.client.errors import OperationFailed, OutcomeUnknown
from harness.history.ops import OpType
from harness.workloads.base import Completion, Operation, Workload


class KvWorkload(Workload):
    name: ClassVar[str] = "kv"
    model: ClassVar[str] = "kv"

    def __init__(self, *, keys: int = 5, read_share: float = 0.5, cas_share: float = 0.25) -> None:
        self.keys = [f"k{number}" for number in range(1, keys + 1)]
        self.read_share = read_share
        self.cas_share = cas_share
        self._values = itertools.count(1)
        self._last_written: dict[str, int] = {}

    def generate(self, rng: random.Random) -> Operation:
        key = rng.choice(self.keys)
        draw = rng.random()
        if draw < self.read_share:
            return Operation(f="read", key=key)
        value = next(self._values)
        if draw < self.read_share + self.cas_share:
            # Expect a recent value of the key so that a fair share of cas succeed.
            expected = self._last_written.get(key) if rng.random() < 0.8 else rng.randint(1, value)
            self._last_written[key] = value
            return Operation(f="cas", key=key, value=[expected, value])
        self._last_written[key] = value
        return Operation(f="write", key=key, value=value)

    async def invoke(self, client: Any, operation: Operation) -> Completion:
        try:
            if operation.f == "read":
                return Completion(type=OpType.OK, value=await client.get(operation.key))
            if operation.f == "write":
                await client.put(operation.key, operation.value)
                return Completion(type=OpType.OK, value=operation.value)
            if operation.f == "cas":
                expected, new = operation.value
                await client.cas(operation.key, expected, new)
                return Completion(type=OpType.OK, value=[expected, new])
        except OutcomeUnknown as error:
            if operation.f == "read":
                # A read changes nothing, so "unknown" is as good as "did not happen"
                # (Jepsen does the same); fail keeps the checker's search small.
                return Completion(type=OpType.FAIL, error=error.reason)
            return Completion(type=OpType.INFO, error=error.reason)
        except OperationFailed as error:
            if operation.f == "read" and error.code == "not-found":
                return Completion(type=OpType.OK, value=None)
            return Completion(type=OpType.FAIL, error=error.code)
        raise ValueError(f"kv workload cannot run f={operation.f!r}; use read, write or cas")

    def final_ops(self) -> list[Operation]:
        return [Operation(f="read", key=key) for key in self.keys]
