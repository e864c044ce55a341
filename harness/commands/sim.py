"""``harness sim --seed N [--count K] [--nodes 5] [--ticks T]``: seeded simulation of the real Raft.

Prints ``SEED=<n>`` and the knobs of each seed first (one line), a line per
failing seed with its kind, reason and exact replay command, then one summary
line. Exit codes (API.md): 0 every seed passed; 1 a safety violation
(CORRECTNESS); 2 a liveness failure, a crash in node code, a checker out of
budget, or a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time

from harness.sim.simulator import Failure, replay_command, run_seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, required=True, help="first seed")
    parser.add_argument("--count", type=_positive, default=1, help="number of seeds (default 1)")
    parser.add_argument(
        "--nodes", type=_cluster_size, default=5, help="voters at start, 1-9 (default 5)"
    )
    parser.add_argument(
        "--ticks", type=_positive, default=400, help="ticks of the safety phase (default 400)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print the nemesis log of failing seeds"
    )


def _cluster_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 9:
        raise argparse.ArgumentTypeError(f"must be between 1 and 9, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    failures: list[tuple[int, Failure]] = []
    messages = 0
    for seed in range(args.seed, args.seed + args.count):
        result = run_seed(seed, nodes=args.nodes, ticks=args.ticks, out=_print)
        messages += result.messages
        if result.failure is Failure.NONE:
            continue
        failures.append((seed, result.failure))
        print(f"{result.failure.name}: seed {seed}: {result.reason}", flush=True)
        if args.verbose:
            for line in result.nemesis_log:
                print(f"  nemesis {line}")
        print(f"replay: {replay_command(seed, args.nodes, args.ticks)}", flush=True)
    elapsed = time.perf_counter() - started
    rate = messages / elapsed if elapsed > 0 else 0.0
    kinds = ",".join(f"{seed}:{failure.name}" for seed, failure in failures) or "none"
    print(
        f"seeds={args.count} failures={len(failures)} ({kinds}) simulated_messages={messages} "
        f"messages_per_second={rate:.0f} elapsed_s={elapsed:.1f}",
        flush=True,
    )
    if not failures:
        return 0
    return (
        max(failure.exit_code for _, failure in failures)
        if all(failure.exit_code != 1 for _, failure in failures)
        else 1
    )


def _print(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(2)
