"""Seeded simulations of the real RaftNode pass, and failing seeds say how to replay them."""

from __future__ import annotations

import functools

import pytest

from harness.cli import main as harness_main
from harness.sim.simulator import Failure, replay_command, run_seed
from impl.raft.messages import RequestVote
from impl.raft.node import RaftNode

SEEDS = range(1, 21)


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize("nodes", [3, 5, 7])
def test_real_raft_passes_every_seed(nodes: int) -> None:
    """Under swarm faults the real RaftNode keeps every invariant, stays live and linearizable."""
    failures = []
    for seed in SEEDS:
        result = run_seed(seed, nodes=nodes, ticks=300, out=_quiet)
        if result.failure is not Failure.NONE:
            failures.append(f"seed {seed}: {result.failure.name}: {result.reason}")
        assert result.messages > 100, "a run without traffic tests nothing"
    assert not failures, "\n".join(failures)


def test_a_seed_replays_identically() -> None:
    """One root RNG: the same seed gives the same run, message for message and op for op."""
    first = run_seed(11, nodes=5, ticks=200, out=_quiet)
    second = run_seed(11, nodes=5, ticks=200, out=_quiet)
    assert first.messages == second.messages
    assert [op.to_json_dict() for op in first.history] == [
        op.to_json_dict() for op in second.history
    ]
    assert first.nemesis_log == second.nemesis_log


def test_runs_contain_faults_and_completed_operations() -> None:
    """A default-length seed exercises the nemesis and completes client operations."""
    results = [run_seed(seed, nodes=5, ticks=400, out=_quiet) for seed in (1, 2, 3)]
    assert sum(len(r.nemesis_log) for r in results) > 5
    assert all(r.ok_ops > 0 for r in results)


class _CrashesOnItsTwentiethStep(RaftNode):
    """Deliberately broken: node code raises a non-assertion error mid-run."""

    __slots__ = ("_steps",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._steps = 0

    def step(self, event):  # type: ignore[no-untyped-def]
        self._steps += 1
        if self._steps == 20:
            raise ValueError("deliberate bug")
        return super().step(event)


class _GrantsEveryVote(RaftNode):
    """Deliberately broken: grants every vote request, even a second one in the same term."""

    __slots__ = ()

    def _handle_request_vote(self, request: RequestVote) -> None:
        if not request.pre_vote:
            self._voted_for = request.from_id
            self._hard_state_dirty = True
        term = request.term if request.pre_vote else self._term
        self._send_vote_response(request, term=term, granted=True)


def test_a_failing_seed_prints_its_kind_and_replay_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """API.md: sim failures print the seed and the exact command to replay it; exit 1 for safety."""
    broken = functools.partial(run_seed, node_factory=_GrantsEveryVote)
    monkeypatch.setattr("harness.commands.sim.run_seed", broken)
    code = harness_main(["sim", "--seed", "4", "--count", "2", "--nodes", "3", "--ticks", "50"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("SEED=4 ")
    assert "CORRECTNESS: seed 4: " in out
    assert "replay: harness sim --seed 4 --count 1 --nodes 3 --ticks 50" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("seeds=2 failures=") and "4:CORRECTNESS" in summary


def test_a_crash_in_node_code_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A non-assertion exception inside node code is a CRASH: exit 2 with the replay command."""
    broken = functools.partial(run_seed, node_factory=_CrashesOnItsTwentiethStep)
    monkeypatch.setattr("harness.commands.sim.run_seed", broken)
    code = harness_main(["sim", "--seed", "1", "--nodes", "3", "--ticks", "50"])
    out = capsys.readouterr().out
    assert code == 2
    assert "CRASH: seed 1:" in out and "deliberate bug" in out
    assert "replay: harness sim --seed 1 --count 1 --nodes 3 --ticks 50" in out


def test_passing_seeds_exit_0_with_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Each seed prints SEED= and its knobs first; one summary line ends the output."""
    code = harness_main(["sim", "--seed", "1", "--count", "2", "--nodes", "3", "--ticks", "100"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines[:2]] == ["SEED=1", "SEED=2"]
    assert "drop_probability=" in lines[0]
    assert lines[-1].startswith("seeds=2 failures=0") and "messages_per_second=" in lines[-1]


@pytest.mark.parametrize(
    "argv", [["sim"], ["sim", "--seed", "x"], ["sim", "--seed", "1", "--count", "0"]]
)
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    """Usage errors exit 2 (API.md), via argparse."""
    with pytest.raises(SystemExit) as exited:
        harness_main(argv)
    assert exited.value.code == 2


def _commit_seed() -> int:
    """STYLE.md §9: CI uses the commit hash as the seed (fixed when git is unavailable)."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        return int(head[:8], 16)
    except (OSError, subprocess.SubprocessError, ValueError):
        return 20240601


def test_seeds_from_the_commit_hash_pass() -> None:
    """Every commit explores new seeds; a failure names the seed and its replay command."""
    first = _commit_seed()
    print(f"SEED={first} (from the commit hash)")
    for seed in range(first, first + 3):
        result = run_seed(seed, nodes=5, ticks=400, out=_quiet)
        assert result.failure is Failure.NONE, (
            f"{result.failure.name}: {result.reason}\nreplay: {replay_command(seed, 5, 400)}"
        )
