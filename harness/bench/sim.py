"""Simulator throughput: simulated messages per real second, and Hypothesis machine examples/s.

Speed targets live here, never in timed unit tests. The simulated-message
rate is what bounds how many seeds CI and soak runs can afford; the target
(issue 2) is >= 50,000 simulated messages per real second at 5 nodes on the
2-core reference machine. Each simulator row is the median of ``REPEATS``
runs of the same seeds (a shared machine makes single runs noisy); the time
includes the linearizability check of every seed, as ``harness sim`` does.

Run ``harness bench sim`` for the table in results/bench/, or
``python -m harness.bench.sim [--quick] [--nodes N]`` to print rows only.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

TITLE = "Deterministic simulation throughput"
TARGET_NODES = 5
TARGET_MESSAGES_PER_S = 50_000
REPEATS = 3


def _simulator_pass(nodes: int, seeds: range, ticks: int) -> dict[str, Any]:
    from harness.sim.simulator import Failure, run_seed

    started = time.perf_counter()
    messages = failures = ops = 0
    for seed in seeds:
        result = run_seed(seed, nodes=nodes, ticks=ticks, out=lambda _line: None)
        messages += result.messages
        ops += result.ops
        failures += result.failure is not Failure.NONE
    elapsed = time.perf_counter() - started
    return {"messages": messages, "ops": ops, "failures": failures, "elapsed": elapsed}


def _simulator_row(nodes: int, seeds: range, ticks: int, repeats: int = REPEATS) -> dict[str, Any]:
    passes = sorted(
        (_simulator_pass(nodes, seeds, ticks) for _ in range(repeats)), key=lambda p: p["elapsed"]
    )
    median = passes[len(passes) // 2]
    elapsed = median["elapsed"]
    rate = median["messages"] / elapsed
    note = ""
    if nodes == TARGET_NODES:
        verdict = "met" if rate >= TARGET_MESSAGES_PER_S else "NOT met"
        note = f"target >= {TARGET_MESSAGES_PER_S:,} msgs/s: {verdict}"
    runs = f", median of {repeats}" if repeats > 1 else ""
    return {
        "case": f"harness sim, {nodes} nodes, {len(seeds)} seeds x {ticks} ticks{runs}",
        "seeds_per_s": len(seeds) / elapsed,
        "simulated_messages_per_s": rate,
        "client_ops_per_s": median["ops"] / elapsed,
        "failures": max(p["failures"] for p in passes),
        "elapsed_s": elapsed,
        "spread_pct": 100 * (passes[-1]["elapsed"] - passes[0]["elapsed"]) / elapsed,
        "note": note,
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
        "spread_pct": None,
        "note": "",
    }


def run(quick: bool = False, only_nodes: int | None = None) -> list[dict[str, Any]]:
    repeats = 1 if quick else REPEATS
    cases = [(3, range(1, 21)), (5, range(1, 21)), (7, range(1, 11))]
    rows = [
        _simulator_row(nodes, seeds, 400, repeats)
        for nodes, seeds in cases
        if only_nodes is None or nodes == only_nodes
    ]
    if not quick and only_nodes is None:
        rows.append(_hypothesis_row(200))
    return rows


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per row, no Hypothesis row")
    parser.add_argument("--nodes", type=int, choices=(3, 5, 7), help="only this simulator row")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, only_nodes=args.nodes)
    print(tabulate(rows, headers="keys", tablefmt="github", floatfmt=".3g"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
