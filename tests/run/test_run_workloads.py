"""Workers and the kv workload record what happened the way Jepsen does."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from run_fakes import ScriptedClient, failed, unknown

from harness.history import read_history
from harness.history.ops import OpType
from harness.run.recorder import Recorder
from harness.run.workers import ProcessIds, worker
from harness.workloads import WORKLOADS, load_workload
from harness.workloads.base import Operation
from harness.workloads.kv import KvWorkload


def run_worker(tmp_path: Path, script: list[object], operations: int) -> Recorder:
    from harness.run.ratelimit import TokenBucket

    recorder = Recorder(tmp_path / "history.jsonl")
    workload = KvWorkload(keys=1, read_share=0.0, cas_share=0.0)  # writes only

    def should_stop() -> bool:
        return recorder.completed >= operations

    asyncio.run(
        worker(
            workload=workload,
            client=ScriptedClient(script),
            recorder=recorder,
            process_ids=ProcessIds(),
            bucket=TokenBucket(10_000),
            rng=random.Random(1),
            should_stop=should_stop,
        )
    )
    recorder.close()
    return recorder


def test_worker_takes_a_fresh_process_after_info_and_never_reuses_it(tmp_path: Path) -> None:
    """ok keeps the process; info retires it; fail keeps it (it certainly did not happen)."""
    recorder = run_worker(tmp_path, [None, unknown(), failed("unavailable"), unknown(), None], 5)
    completions = [op for op in recorder.ops if op.type is not OpType.INVOKE]
    assert [(op.process, op.type) for op in completions] == [
        (0, OpType.OK),
        (0, OpType.INFO),
        (1, OpType.FAIL),
        (1, OpType.INFO),
        (2, OpType.OK),
    ]
    on_disk = read_history(
        tmp_path / "history.jsonl"
    )  # HIST's reader validates Rule 4 (no reuse after info)
    assert [op.to_json_dict() for op in on_disk] == [op.to_json_dict() for op in recorder.ops]


def test_every_write_value_is_unique() -> None:
    workload = KvWorkload()
    rng = random.Random(3)
    written = []
    for _ in range(500):
        operation = workload.generate(rng)
        if operation.f == "write":
            written.append(operation.value)
        elif operation.f == "cas":
            written.append(operation.value[1])
    assert len(written) == len(set(written)) > 100


def kv_outcome(operation: Operation, outcome: object) -> tuple[OpType, object, object]:
    completion = asyncio.run(KvWorkload().run(ScriptedClient([outcome]), operation))
    return completion.type, completion.value, completion.error


def test_kv_read_not_found_is_ok_with_none() -> None:
    assert kv_outcome(Operation(f="read", key="k1"), failed("not-found")) == (OpType.OK, None, None)


def test_kv_read_timeout_is_fail_because_reads_change_nothing() -> None:
    assert kv_outcome(Operation(f="read", key="k1"), unknown())[0] is OpType.FAIL


def test_kv_write_timeout_is_info() -> None:
    assert kv_outcome(Operation(f="write", key="k1", value=3), unknown()) == (
        OpType.INFO,
        None,
        "timeout",
    )


def test_kv_cas_mismatch_is_fail_and_success_echoes_expected_and_new() -> None:
    cas = Operation(f="cas", key="k1", value=[1, 2])
    assert kv_outcome(cas, failed("cas-mismatch", current=5))[:1] == (OpType.FAIL,)
    assert kv_outcome(cas, None)[:2] == (OpType.OK, [1, 2])


def test_an_unexpected_exception_becomes_info_never_fail() -> None:
    """Claiming 'did not happen' without proof could hide a lost write (base.py Rule 2)."""
    assert (
        kv_outcome(Operation(f="write", key="k1", value=3), RuntimeError("boom"))[0] is OpType.INFO
    )


def test_final_ops_read_every_key() -> None:
    workload = KvWorkload(keys=3)
    assert [(op.f, op.key) for op in workload.final_ops()] == [
        ("read", "k1"),
        ("read", "k2"),
        ("read", "k3"),
    ]


def test_registered_workloads_load_by_name() -> None:
    assert load_workload("kv") is KvWorkload
    assert set(WORKLOADS) >= {"kv"}


def test_per_process_hooks_see_the_process_and_its_retirement(tmp_path: Path) -> None:
    """generate_for/invoke_as get the worker's current process; retire is called after each info."""
    from typing import Any

    from harness.run.ratelimit import TokenBucket
    from harness.workloads.base import Completion, Workload

    class OwnerWorkload(Workload):
        name = "owner"
        model = "kv"

        def __init__(self) -> None:
            self.generated_for: list[int] = []
            self.invoked_as: list[int] = []
            self.retired: list[int] = []

        def generate(self, rng: random.Random) -> Operation:
            raise AssertionError("generate_for is used")

        def generate_for(self, process: int, rng: random.Random) -> Operation:
            self.generated_for.append(process)
            return Operation(f="write", key="k1", value=len(self.generated_for))

        async def invoke(self, client: Any, operation: Operation) -> Completion:
            raise AssertionError("invoke_as is used")

        async def invoke_as(self, client: Any, operation: Operation, process: int) -> Completion:
            self.invoked_as.append(process)
            return Completion(type=OpType.INFO if len(self.invoked_as) % 2 else OpType.OK)

        def retire(self, process: int) -> None:
            self.retired.append(process)

        def final_ops(self) -> list[Operation]:
            return []

    recorder = Recorder(tmp_path / "history.jsonl")
    workload = OwnerWorkload()
    asyncio.run(
        worker(
            workload=workload,
            client=None,
            recorder=recorder,
            process_ids=ProcessIds(),
            bucket=TokenBucket(10_000),
            rng=random.Random(1),
            should_stop=lambda: recorder.completed >= 4,
        )
    )
    recorder.close()
    assert workload.generated_for == workload.invoked_as == [0, 1, 1, 2]
    assert workload.retired == [0, 1]


def test_workload_options_reach_the_constructor() -> None:
    from harness.commands.run import _workload_option

    name, value = _workload_option("keys=3")
    assert (name, value) == ("keys", 3)
    assert len(KvWorkload(**{name: value}).final_ops()) == 3
    assert _workload_option("fencing=false") == ("fencing", False)
    assert _workload_option("mode=exclusive") == ("mode", "exclusive")
