"""Write a history as Jepsen EDN, one op map per line (what Jepsen's ``history.edn`` holds)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.history.edn import op_to_edn
from harness.history.ops import Op


def write_edn(path: str | Path, ops: Iterable[Op]) -> int:
    """Write ``ops`` to ``path`` as EDN, one map per line; returns the count."""
    count = 0
    with open(path, "w", encoding="utf-8") as file:
        for op in ops:
            file.write(op_to_edn(op) + "\n")
            count += 1
    return count
