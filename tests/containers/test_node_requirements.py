"""The node image carries every third-party module impl/ imports (an image missing one cannot start)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from harness.commands.image import NODE_REQUIREMENTS

ROOT = Path(__file__).resolve().parents[2]
# Import name -> the requirement that brings it (its own distribution, or aiohttp's dependencies).
DISTRIBUTION_OF = {
    "dotenv": "python-dotenv",
    "prometheus_client": "prometheus-client",
    "yarl": "aiohttp",
    "multidict": "aiohttp",
}


def third_party_imports(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "impl"}


def test_every_module_the_node_imports_is_in_the_image_requirements() -> None:
    required = {re.split(r"[<>=;\s]", r, maxsplit=1)[0] for r in NODE_REQUIREMENTS}
    imported = {DISTRIBUTION_OF.get(n, n) for n in third_party_imports(ROOT / "impl")}
    assert imported, "the scan found no third-party imports at all"
    assert imported <= required, f"missing from NODE_REQUIREMENTS: {sorted(imported - required)}"
