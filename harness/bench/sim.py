"""Simulator throughput: simulated messages per real second, and Hypothesis machine examples/s.

Speed targets live here, never in timed unit tests. The simulated-message
rate is what bounds how many seeds CI and soak runs can afford.
"""

from __future__ import annotations

import time
from typing import Any

TITLE = "Deterministic simulation throughput"


def _simulator_row(nodes: int, seeds: range, ticks: int) -> dict[str, Any]:
    from harness.sim.simulator import Failure, run_seed

    started = time.perf_counter()
    messages = failures = ops = 0
    for seed in seeds:
        result = run_seed(seed, nodes=nodes, ticks=ticks, out=lambda _line: None)
        messages += result.messages
        ops += result.ops
        failures += result.failure is not Failure.NONE
    elapsed = time.perf_counter() - started
    return {
        "case": f"harness sim, {nodes} nodes, {len(seeds)} seeds x {ticks} ticks",
        "seeds_per_s": len(seeds) / elapsed,
        "simulated_messages_per_s": messages / elapsed,
        "client_ops_per_s": ops / elapsed,
        "failures": failures,
        "elapsed_s": elapsed,
    }


def _hypothesis_row(examples: int) -> dict[str, Any]:
    from hypothesis import settings
    from hypothesis.stateful import run_state_machine_as_test

    from harness.sim.hypothesis_machine import RaftClusterMachine

    counted = {"examples": 0, "messages": 0}

    class Counted(RaftClusterMachine):
        def teardown(self) -> None:
            counted["examples"] += 1
            counted["messages"] += self.cluster.network.messages_sent

    started = time.perf_counter()
    run_state_machine_as_test(
        Counted,
        settings=settings(
            max_examples=examples, stateful_step_count=60, deadline=None, database=None
        ),
    )
    elapsed = time.perf_counter() - started
    return {
        "case": f"Hypothesis RaftClusterMatchesSpec, 3 nodes, {examples} examples x <=60 steps",
        "seeds_per_s": counted["examples"] / elapsed,
        "simulated_messages_per_s": counted["messages"] / elapsed,
        "client_ops_per_s": None,
        "failures": 0,
        "elapsed_s": elapsed,
    }


def run() -> list[dict[str, Any]]:
    return [
        _simulator_row(3, range(1, 21), 400),
        _simulator_row(5, range(1, 21), 400),
        _simulator_row(7, range(1, 11), 400),
        _hypothesis_row(200),
    ]
