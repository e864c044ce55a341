"""The sans-I/O rule (STYLE.md §1): the protocol cores and spec/ import no I/O, clock or randomness module.

The cores are Raft and the services applied from its log (kv, lock, fenced) plus the
service contract; the runtime in impl/runtime/ is the only shell allowed to do I/O.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"asyncio", "socket", "time", "random", "threading", "sqlite3", "logging"}
CORE_DIRS = [
    ROOT / "impl" / "raft",
    ROOT / "impl" / "kv",
    ROOT / "impl" / "lock",
    ROOT / "impl" / "fenced",
    ROOT / "spec",
]
CORE_FILES = [ROOT / "impl" / "statemachine.py", ROOT / "impl" / "errors.py"]


def forbidden_imports(source: str) -> list[str]:
    """Top-level module names from FORBIDDEN that ``source`` imports, anywhere in the file."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.extend(name for name in names if name.split(".")[0] in FORBIDDEN)
    return found


def core_files() -> list[Path]:
    files = [p for d in CORE_DIRS if d.exists() for p in d.rglob("*.py")]
    return sorted(files + [p for p in CORE_FILES if p.exists()])


def test_checker_detects_forbidden_imports() -> None:
    """The checker itself flags plain, dotted, from- and nested imports (so the rule can fail)."""
    source = (
        "import os\nimport asyncio.tasks\nfrom time import monotonic\ndef f():\n    import random\n"
    )
    assert forbidden_imports(source) == ["asyncio.tasks", "time", "random"]
    assert forbidden_imports("import timeit\nfrom impl.raft import log\n") == []


def test_core_modules_exist() -> None:
    """The walk covers the Raft core (an empty walk would pass vacuously)."""
    names = {p.name for p in core_files()}
    assert {"node.py", "log.py", "quorum.py", "progress.py", "codec.py"} <= names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_io(path: Path) -> None:
    """No sans-I/O core module imports asyncio, socket, time, random, threading, sqlite3 or logging."""
    assert forbidden_imports(path.read_text()) == []
