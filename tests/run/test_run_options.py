"""A run's printed rerun command reproduces its options, and run folders never collide."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from harness.commands import run as run_command
from harness.run.options import RunOptions
from harness.run.runner import make_run_dir


def parse(command: str) -> RunOptions:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    words = shlex.split(command)
    assert words[:2] == ["harness", "run"]
    return run_command.options_from_args(parser.parse_args(words[2:]))


def test_rerun_command_parses_back_to_the_same_options() -> None:
    options = RunOptions(
        workload="kv",
        nemesis="partition,kill",
        nodes=5,
        time_limit_s=12.5,
        concurrency=7,
        rate=55,
        seed=99,
        net="netns",
        asymmetric=True,
        workload_options={"keys": 3, "mode": "fast"},
        nemesis_quiet_s=(1.0, 2.0),
        nemesis_fault_s=(2.5, 4.0),
    )
    assert parse(options.rerun_command()) == options


def test_default_options_round_trip_too() -> None:
    options = RunOptions(seed=1)
    assert parse(options.rerun_command()) == options


def test_two_runs_in_the_same_second_get_different_folders(tmp_path: Path) -> None:
    options = RunOptions(nemesis="partition,kill", out=tmp_path)
    first, second = make_run_dir(options), make_run_dir(options)
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name.endswith("-kv-partition+kill")
