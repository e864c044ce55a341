"""``harness export HISTORY --edn | --jsonl [-o OUT]``: convert between JSON Lines and Jepsen EDN.

EDN output is what Jepsen reads (one op map per line, keywords for type and
f, nil for None), so Jepsen's and Knossos's own checkers can re-check our
histories; ``--jsonl`` converts a Jepsen/Knossos EDN history to our format.
Our ops carry their key in a ``:key`` field, which Jepsen's checkers ignore:
``--independent`` writes it the way Jepsen's ``independent`` workloads do,
``:value [key value]``, so ``independent/checker`` checks each key on its own
(read such a file back with ``--split-keys``).
The input is validated while it streams; a malformed line exits 2 naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("history", type=Path, help="the history to convert (JSONL or EDN)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--edn", action="store_true", help="write Jepsen EDN")
    target.add_argument("--jsonl", action="store_true", help="write JSON Lines")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="output file (default: HISTORY with the new suffix)",
    )
    parser.add_argument(
        "--independent",
        action="store_true",
        help="EDN only: write each op's key as Jepsen's independent tuple :value [key value]",
    )
    parser.add_argument(
        "--split-keys",
        action="store_true",
        help="split Jepsen independent [key value] values into key and value",
    )


def main(args: argparse.Namespace) -> int:
    from harness.history import HistoryError, iter_history, write_edn, write_history
    from harness.history.edn import as_independent_tuple

    if args.independent and not args.edn:
        print("harness export: --independent applies to --edn output only", file=sys.stderr)
        return 2
    suffix = ".edn" if args.edn else ".jsonl"
    out: Path = args.out or args.history.with_suffix(suffix)
    if out.resolve() == args.history.resolve():
        print(f"harness export: refusing to overwrite the input {out}; use -o", file=sys.stderr)
        return 2
    ops = iter_history(args.history, split_keys=args.split_keys, keep_nemesis=True)
    if args.independent:
        ops = (as_independent_tuple(op) for op in ops)
    partial = out.with_name(out.name + ".partial")
    try:
        count = write_edn(partial, ops) if args.edn else write_history(partial, ops)
    except HistoryError as error:
        partial.unlink(missing_ok=True)
        print(f"harness export: {args.history}: {error}", file=sys.stderr)
        return 2
    except (OSError, TypeError) as error:
        partial.unlink(missing_ok=True)
        print(f"harness export: {error}", file=sys.stderr)
        return 2
    partial.replace(out)
    print(f"wrote {count} ops to {out}")
    return 0
