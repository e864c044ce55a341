"""Seeded random faults (crashes, loss, reordering, duplication, partitions) never break safety."""

from __future__ import annotations

import os

import pytest

from .chaos import Chaos

CI_SEEDS = range(int(os.environ.get("RAFT_CHAOS_SEEDS", "6")))


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_safety_and_liveness_under_random_faults(seed: int) -> None:
    """Election safety, state machine safety, leader completeness and read safety hold under
    random faults, and once faults stop the cluster converges on one leader."""
    print(f"SEED={seed}")
    chaos = Chaos(seed, nodes=3 if seed % 2 else 5)
    chaos.run(6000)
    chaos.heal_and_converge()
    assert chaos.stats["messages"] > 100 and chaos.max_applied > 0, chaos.stats


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1000, 1200))
def test_safety_and_liveness_under_random_faults_soak(seed: int) -> None:
    """The same property over many more seeds and steps."""
    print(f"SEED={seed}")
    chaos = Chaos(seed, nodes=3 if seed % 2 else 5)
    chaos.run(30000)
    chaos.heal_and_converge()
