"""Start three PySyncObj node processes on 127.0.0.1 and collect their leader's measurements.

Bench env only (``pip install .[bench]``); never imported by the product.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.backends.ports import free_ports
from harness.bench._cluster import no_results


def run_pysyncobj(plan: list[dict[str, Any]], *, batch: bool) -> list[dict[str, Any]]:
    """Run every case of ``plan`` (concurrency, payload_bytes, seconds) on one 3-node cluster."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(3)]
    with tempfile.TemporaryDirectory(prefix="pysyncobj-bench-") as tmp:
        workdir = Path(tmp)
        plan_file, out_file = workdir / "plan.json", workdir / "out.json"
        plan_file.write_text(json.dumps(plan))
        processes: list[subprocess.Popen[bytes]] = []
        logs = []
        for number, address in enumerate(addresses):
            partners = [other for other in addresses if other != address]
            command = [
                sys.executable, "-m", "harness.bench._pysyncobj_node", address, *partners,
                "--plan", str(plan_file), "--out", str(out_file),
                "--journal", str(workdir / f"journal{number}.bin"),
            ]  # fmt: skip
            if batch:
                command.append("--batch")
            log = open(workdir / f"node{number}.log", "wb")  # noqa: SIM115 - closed below
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            logs.append(log)
        budget = 60 + sum(case["seconds"] + 15 for case in plan)
        deadline = time.monotonic() + budget
        try:
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
            for log in logs:
                log.close()
        if not out_file.exists():
            logs = {f"node{n}": workdir / f"node{n}.log" for n in range(len(addresses))}
            return no_results("PySyncObj", plan, budget, logs)
        # PySyncObj warns when a follower truncates entries it already applied ("state
        # machine may have diverged"); we count those lines rather than hide them.
        warnings = sum(
            (workdir / f"node{n}.log")
            .read_text(errors="replace")
            .count("truncating already-applied")
            for n in range(len(addresses))
        )
        results = list(json.loads(out_file.read_text()))
        for row in results:
            row["divergence_warnings"] = warnings
        return results
