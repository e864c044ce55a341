"""Golden scenario transcripts in tests/scenarios/*.txt (etcd datadriven style).

Rewrite after an intended behaviour change with ``SINKRON_REWRITE=1 pytest tests/raft/test_scenarios.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .scenario import parse, run_file

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.txt"))


def test_scenarios_exist() -> None:
    """The transcript directory is not empty (an empty glob would pass vacuously)."""
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_transcript_matches(path: Path) -> None:
    """Replaying the scenario produces exactly the recorded effects, step by step."""
    assert parse(path.read_text()), f"{path} holds no blocks"
    rewrite = os.environ.get("SINKRON_REWRITE", "") == "1"
    mismatches = run_file(path, rewrite=rewrite)
    for command, expected, actual in mismatches:
        print(f"--- {command}\n+++ expected\n{expected}\n+++ actual\n{actual}")
    assert not mismatches, f"{len(mismatches)} block(s) differ in {path.name}"
