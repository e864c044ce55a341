"""``harness run``: a real cluster under a nemesis -> results/<timestamp>-<workload>-<nemesis>/.

See docs/running.md for what a run does and how to read its report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

from harness.nemesis.registry import parse_nemesis
from harness.run.options import RunOptions


def _seconds_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX in seconds, got {text!r}") from error
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"need 0 <= MIN <= MAX, got {text!r}")
    return low, high


def _workload_option(text: str) -> tuple[str, Any]:
    name, separator, raw = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)  # numbers, true/false, null, lists; anything else stays text
    except ValueError:
        value = raw
    return name.replace("-", "_"), value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", default="kv", help="kv | lock | fenced (default kv)")
    parser.add_argument(
        "--nemesis",
        default="none",
        help="none | all | a comma list of partition, kill, pause, clock (default none)",
    )
    parser.add_argument(
        "--workload-opt",
        type=_workload_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="workload constructor option, e.g. fencing=false or keys=3 (repeatable)",
    )
    parser.add_argument("--backend", default="local", choices=["local", "docker", "ssh"])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds of workload (default 60)"
    )
    parser.add_argument("--concurrency", type=int, default=10, help="client workers (default 10)")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="ops/s over all workers (default 100)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="root seed (default: random, printed)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="parent folder of run folders"
    )
    parser.add_argument(
        "--net", default="relay", choices=["relay", "netns"], help="local backend network"
    )
    parser.add_argument("--hosts", type=Path, default=None, help="ssh backend: hosts file (TOML)")
    parser.add_argument(
        "--asymmetric", action="store_true", help="partitions cut one direction only"
    )
    parser.add_argument(
        "--check-timeout", type=float, default=60.0, help="checker budget in s (default 60)"
    )
    parser.add_argument(
        "--nemesis-quiet",
        type=_seconds_range,
        default=(3.0, 5.0),
        metavar="MIN,MAX",
        help="seconds of calm between faults, drawn per cycle (default 3,5)",
    )
    parser.add_argument(
        "--nemesis-fault",
        type=_seconds_range,
        default=(3.0, 8.0),
        metavar="MIN,MAX",
        help="seconds each fault lasts, drawn per fault (default 3,8)",
    )
    parser.add_argument(
        "--client-timeout", type=float, default=2.0, help="per-request timeout in s"
    )


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """Raises ValueError on options that make no sense."""
    parse_nemesis(args.nemesis)
    if args.nodes < 1 or args.concurrency < 1 or args.rate <= 0 or args.time_limit <= 0:
        raise ValueError("--nodes, --concurrency, --rate and --time-limit must be positive")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    return RunOptions(
        workload=args.workload,
        nemesis=args.nemesis,
        backend=args.backend,
        nodes=args.nodes,
        time_limit_s=args.time_limit,
        concurrency=args.concurrency,
        rate=args.rate,
        seed=seed,
        out=args.out,
        net=args.net,
        hosts=args.hosts,
        asymmetric=args.asymmetric,
        check_timeout_s=args.check_timeout,
        client_timeout_s=args.client_timeout,
        workload_options=dict(args.workload_opt),
        nemesis_quiet_s=args.nemesis_quiet,
        nemesis_fault_s=args.nemesis_fault,
    )


def main(args: argparse.Namespace) -> int:
    from harness.run.runner import BackendUnavailable, execute

    try:
        options = options_from_args(args)
    except ValueError as error:
        print(f"harness run: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(execute(options))
    except (BackendUnavailable, LookupError) as error:
        print(f"harness run: {error}", file=sys.stderr)
        return 2
