"""``harness bench [NAME ...]``: run benchmark modules, print tables, write results/bench/.

Speed and memory targets live here, never in timed unit tests. Each module
``harness/bench/<name>.py`` defines ``run() -> list[dict]`` (one row per case,
same keys in every row), optionally ``TITLE``, and optionally
``summary(rows) -> str``: markdown printed and written after the table (for
example which targets the rows met). A row's keys starting with ``_`` (raw
per-round data, say) are written to the JSON but left out of the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import pkgutil
import sys
from pathlib import Path

import harness.bench


def available() -> list[str]:
    modules = pkgutil.iter_modules(harness.bench.__path__)
    return sorted(info.name for info in modules if not info.name.startswith("_"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        default=["all"],
        help=f"benchmarks to run (default all): {', '.join(available())}",
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench"), help="where tables go")


def write_bench_files(
    out: Path, name: str, title: str, rows: list[dict], table: str, summary: str
) -> None:
    """``<name>.md`` (title, time, table, summary) and ``<name>.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    tail = f"\n{summary}" if summary else ""
    (out / f"{name}.md").write_text(f"# {title}\n\nMeasured {stamp}.\n\n{table}\n{tail}")
    (out / f"{name}.json").write_text(json.dumps({"measured": stamp, "rows": rows}, indent=1))


def printed(rows: list[dict]) -> list[dict]:
    """The rows as the table shows them: keys starting with ``_`` go to the JSON only."""
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


def main(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    names = available() if "all" in args.names else args.names
    unknown = [name for name in names if name not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {available()}", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(f"harness.bench.{name}")
        title = getattr(module, "TITLE", name)
        print(f"== {title}", flush=True)
        rows = module.run()
        table = tabulate(printed(rows), headers="keys", tablefmt="github", floatfmt=".3g")
        print(table, flush=True)
        summarize = getattr(module, "summary", None)
        summary = summarize(rows) if summarize is not None else ""
        if summary:
            print(f"\n{summary}", flush=True)
        write_bench_files(args.out, name, title, rows, table, summary)
    return 0
