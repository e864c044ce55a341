"""The nemesis scheduler records every fault window and leaves a healed cluster behind."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from run_fakes import FakeBackend

from harness.nemesis.clock import ClockFault
from harness.nemesis.context import NemesisContext
from harness.nemesis.kill import KillFault
from harness.nemesis.partition import PartitionFault
from harness.nemesis.pause import PauseFault
from harness.nemesis.registry import build_faults, parse_nemesis
from harness.nemesis.scheduler import NemesisScheduler


class ListRecorder:
    def __init__(self) -> None:
        self.start = time.monotonic_ns()
        self.nemesis_ops: list[tuple[str, str]] = []

    def now_ns(self) -> int:
        return time.monotonic_ns() - self.start

    def record_nemesis(self, f: str, value: str) -> None:
        self.nemesis_ops.append((f, value))


def make_context(backend: FakeBackend, seed: int, leader: str | None = "n1") -> NemesisContext:
    async def find_leader() -> str | None:
        return leader

    return NemesisContext(backend=backend, rng=random.Random(seed), find_leader=find_leader)


async def run_scheduler(
    kinds: str, seed: int, seconds: float
) -> tuple[FakeBackend, NemesisScheduler, ListRecorder]:
    backend = FakeBackend(5)
    recorder = ListRecorder()
    faults = build_faults(parse_nemesis(kinds))
    scheduler = NemesisScheduler(
        faults, make_context(backend, seed), recorder, quiet_s=(0.01, 0.03), fault_s=(0.02, 0.05)
    )
    await scheduler.run(recorder.now_ns() + int(seconds * 1e9))
    await scheduler.heal_all()
    return backend, scheduler, recorder


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scheduler_records_ordered_windows_and_heals_at_the_end(seed: int) -> None:
    """Windows do not overlap, each has a start and a stop event, and the cluster ends healthy."""
    backend, scheduler, recorder = asyncio.run(run_scheduler("all", seed, 0.6))
    assert scheduler.windows, "0.6 s with 10-50 ms faults must inject at least one"
    for (start, end, label), following in zip(
        scheduler.windows, [*scheduler.windows[1:], None], strict=True
    ):
        assert start <= end
        assert label.split(":")[0] in {"partition", "kill", "pause", "clock"}
        if following is not None:
            assert end <= following[0]
    starts = [f for f, _ in recorder.nemesis_ops if f.startswith("start-")]
    stops = [f for f, _ in recorder.nemesis_ops if f.startswith("stop-")]
    assert len(starts) == len(stops) == len(scheduler.windows)
    assert [f for f, _ in recorder.nemesis_ops[-4:]] == [
        "heal-pause",
        "heal-kill",
        "heal-partition",
        "heal-clock",
    ]
    assert backend.healthy
    assert scheduler.active is None


def test_scheduler_with_no_faults_only_waits() -> None:
    """--nemesis none injects nothing and records nothing."""
    backend, scheduler, recorder = asyncio.run(run_scheduler("none", 1, 0.05))
    assert scheduler.windows == [] and recorder.nemesis_ops == []
    assert backend.calls == []


def test_heal_all_closes_a_window_left_open_by_cancellation() -> None:
    """Cancelled in the middle of a fault, the scheduler still heals and closes the window."""

    async def scenario() -> tuple[FakeBackend, NemesisScheduler]:
        backend = FakeBackend(3)
        recorder = ListRecorder()
        scheduler = NemesisScheduler(
            [KillFault()],
            make_context(backend, 5),
            recorder,
            quiet_s=(0.0, 0.0),
            fault_s=(10.0, 10.0),
        )
        task = asyncio.create_task(scheduler.run(recorder.now_ns() + int(60e9)))
        await asyncio.sleep(0.1)
        assert backend.killed, "the kill must be in force"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await scheduler.heal_all()
        return backend, scheduler

    backend, scheduler = asyncio.run(scenario())
    assert len(scheduler.windows) == 1
    assert backend.healthy


def test_a_failing_fault_is_recorded_and_the_run_goes_on() -> None:
    """A backend error during a fault becomes an 'error: ...' event, not a crash."""

    class BrokenBackend(FakeBackend):
        async def kill_node(self, node: str) -> None:
            raise RuntimeError("no such process")

    async def scenario() -> ListRecorder:
        recorder = ListRecorder()
        scheduler = NemesisScheduler(
            [KillFault(targets=("random",))],
            make_context(BrokenBackend(3), 2),
            recorder,
            quiet_s=(0.01, 0.01),
            fault_s=(0.01, 0.01),
        )
        await scheduler.run(recorder.now_ns() + int(0.1e9))
        return recorder

    recorder = asyncio.run(scenario())
    assert any(
        value.startswith("error: RuntimeError")
        for f, value in recorder.nemesis_ops
        if f == "start-kill"
    )


def test_leader_partition_isolates_the_reported_leader() -> None:
    """isolate-leader cuts every link of the node /status names as leader."""

    async def scenario() -> FakeBackend:
        backend = FakeBackend(3)
        fault = PartitionFault(grudge_names=("isolate-leader",))
        await fault.start(make_context(backend, 1, leader="n2"))
        return backend

    backend = asyncio.run(scenario())
    assert backend.links == {("n2", "n1"), ("n1", "n2"), ("n2", "n3"), ("n3", "n2")}


def test_kill_minority_kills_at_most_a_minority_and_stop_restarts_them() -> None:
    async def scenario() -> tuple[set[str], FakeBackend]:
        backend = FakeBackend(5)
        context = make_context(backend, 4)
        fault = KillFault(targets=("minority",))
        await fault.start(context)
        killed = set(backend.killed)
        await fault.stop(context)
        return killed, backend

    killed, backend = asyncio.run(scenario())
    assert 1 <= len(killed) <= 2
    assert backend.healthy


def test_pause_leader_pauses_the_leader_and_resumes_it() -> None:
    async def scenario() -> tuple[set[str], FakeBackend]:
        backend = FakeBackend(3)
        context = make_context(backend, 4, leader="n3")
        fault = PauseFault(targets=("leader",))
        await fault.start(context)
        paused = set(backend.paused)
        await fault.stop(context)
        return paused, backend

    paused, backend = asyncio.run(scenario())
    assert paused == {"n3"}
    assert backend.healthy


def test_clock_strobe_flips_offsets_until_stopped_then_resets() -> None:
    """A strobe sets several different offsets on one node; stop resets every clock to 0."""

    async def scenario() -> FakeBackend:
        backend = FakeBackend(3)
        context = make_context(backend, 9)
        fault = ClockFault(modes=("strobe",), strobe_period_s=0.005)
        await fault.start(context)
        await asyncio.sleep(0.05)
        await fault.stop(context)
        return backend

    backend = asyncio.run(scenario())
    strobe_values = {offset for name, (node, offset) in backend.calls if name == "set_clock_offset"}
    assert len(strobe_values) >= 2 and 0 in strobe_values
    assert backend.offsets == {"n1": 0, "n2": 0, "n3": 0}


def test_nemesis_names_parse_into_kinds() -> None:
    assert parse_nemesis("none") == []
    assert parse_nemesis("all") == ["partition", "kill", "pause", "clock"]
    assert parse_nemesis("kill,partition,kill") == ["kill", "partition"]
    with pytest.raises(ValueError, match="unknown nemesis"):
        parse_nemesis("meteor")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_kind_asked_for_comes_before_any_kind_repeats(seed: int) -> None:
    """Kinds are dealt from a shuffled deck: the first four windows of "all" are four kinds."""
    _, scheduler, _ = asyncio.run(run_scheduler("all", seed, 0.6))
    kinds = [label.split(":")[0] for _, _, label in scheduler.windows]
    assert len(kinds) >= 4, kinds
    for start in range(0, len(kinds) - 3, 4):
        assert sorted(kinds[start : start + 4]) == ["clock", "kill", "partition", "pause"], kinds
