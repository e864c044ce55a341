"""A reader that stops early (`harness ... | head -1`) must not make harness print a traceback."""

from __future__ import annotations

import subprocess
import sys


def test_a_closed_stdout_ends_without_a_traceback() -> None:
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness", "sim", "--seed", "1", "--count", "40", "--nodes", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert harness.stdout is not None and harness.stderr is not None
    first = harness.stdout.readline()
    harness.stdout.close()  # the reader goes away after one line, as `| head -1` does
    stderr = harness.stderr.read().decode()
    harness.wait(timeout=120)
    assert first.startswith(b"SEED=1")
    assert "Traceback" not in stderr, stderr
    assert harness.returncode in (0, 2)
