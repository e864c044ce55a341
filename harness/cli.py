"""The ``harness`` command: one subcommand per module, imported only when used.

Each subcommand lives in ``harness/commands/<name>.py`` and defines
``add_arguments(parser)`` and ``main(args) -> int`` (exit codes as in API.md:
0 valid, 1 invalid, 2 unknown / usage / harness error). Keeping them apart
keeps start-up fast (`harness check` never imports matplotlib) and lets each
subcommand own its file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

SUBCOMMANDS: dict[str, str] = {
    "run": "real cluster under a nemesis -> results/<run>/",
    "check": "check a history (JSONL or Jepsen EDN) against a model",
    "sim": "deterministic simulation of the real Raft code with seeded faults",
    "cluster": "start/stop a local cluster to play with; add or remove a node",
    "report": "rebuild the report files of a run folder",
    "export": "convert a history (e.g. to Jepsen EDN)",
    "bench": "benchmarks: print tables, write results/bench/",
    "image": "build the container images without a registry",
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is already the API.md code for 'usage error'."""


def stdout_to_devnull() -> None:
    """After a BrokenPipeError: point stdout at /dev/null, so the interpreter's final flush
    does not raise again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            module = importlib.import_module(f"harness.commands.{name.replace('-', '_')}")
            module.add_arguments(sub_parser)
    return parser


def _terminate_like_ctrl_c(signum: int, frame: object) -> None:
    """SIGTERM (``kill``, a CI job's timeout) ends a command the way Ctrl-C does.

    Raising SIGINT runs whatever handles Ctrl-C at that moment (asyncio's runner
    cancels the main task, so every ``finally`` runs: nodes stopped, the run's
    record written; otherwise KeyboardInterrupt), and ``main`` exits 2. A command
    that handles SIGTERM itself (``cluster up``) installs its own handler later.
    """
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    if selected not in SUBCOMMANDS:
        selected = None
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"harness.commands.{args.command}")
    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    try:
        return int(module.main(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 2
    except BrokenPipeError:
        stdout_to_devnull()  # the reader went away (`harness ... | head`): no traceback
        return 2


if __name__ == "__main__":
    sys.exit(main())
