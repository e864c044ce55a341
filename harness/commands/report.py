"""``harness report results/<run>/``: rebuild a run's report files from history.jsonl and run.json.

Useful after a checker improvement, or to re-check with a bigger budget
(``--check-timeout``). Exit code: the verdict (0 valid, 1 invalid, 2 unknown),
or 2 when the folder is not a run folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a folder written by `harness run`")
    parser.add_argument(
        "--check-timeout", type=float, default=60.0, help="checker budget in s (default 60)"
    )


def main(args: argparse.Namespace) -> int:
    from harness.history import read_history
    from harness.run.analysis import check_run, write_reports
    from harness.run.options import read_metadata

    run_dir: Path = args.run_dir
    try:
        metadata = read_metadata(run_dir)
        ops = read_history(run_dir / "history.jsonl", keep_nemesis=True)
    except (OSError, ValueError) as error:
        print(f"harness report: {error}", file=sys.stderr)
        return 2
    result = check_run(ops, metadata, timeout_s=args.check_timeout)
    write_reports(run_dir, ops, metadata, result)
    print(f"verdict: {result.verdict.value}; rebuilt reports in {run_dir}", file=sys.stderr)
    for reason in result.reasons:
        print(f"  {reason}", file=sys.stderr)
    return result.verdict.exit_code
