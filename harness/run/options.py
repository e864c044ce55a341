"""The knobs of one ``harness run``, and the run folder's metadata file (run.json).

run.json holds what the history alone cannot tell ``harness report``: the
options and seed, the checker model, the nemesis windows and events, the
final reads and timings. Everything else is recomputed from history.jsonl.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

METADATA_FILE = "run.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    workload: str = "kv"
    nemesis: str = "none"
    backend: str = "local"
    nodes: int = 3
    time_limit_s: float = 60.0
    concurrency: int = 10
    rate: float = 100.0
    seed: int = 0
    out: Path = Path("results")
    net: str = "relay"
    hosts: Path | None = None  # ssh backend: the hosts file
    asymmetric: bool = False
    check_timeout_s: float = 60.0
    client_timeout_s: float = 2.0
    recovery_timeout_s: float = 30.0
    workload_options: dict[str, Any] = field(default_factory=dict)  # --workload-opt KEY=VALUE
    nemesis_quiet_s: tuple[float, float] = (3.0, 5.0)  # heal period between faults, drawn per cycle
    nemesis_fault_s: tuple[float, float] = (3.0, 8.0)  # how long each fault lasts

    def rerun_command(self) -> str:
        words = [
            "harness",
            "run",
            "--workload",
            self.workload,
            "--nemesis",
            self.nemesis,
            "--backend",
            self.backend,
            "--nodes",
            str(self.nodes),
            "--time-limit",
            f"{self.time_limit_s:g}",
            "--concurrency",
            str(self.concurrency),
            "--rate",
            f"{self.rate:g}",
            "--seed",
            str(self.seed),
        ]
        if self.net != "relay":
            words += ["--net", self.net]
        if self.asymmetric:
            words.append("--asymmetric")
        for name, value in sorted(self.workload_options.items()):
            words += ["--workload-opt", f"{name}={json.dumps(value)}"]
        if self.nemesis_quiet_s != (3.0, 5.0):
            words += ["--nemesis-quiet", ",".join(f"{value:g}" for value in self.nemesis_quiet_s)]
        if self.nemesis_fault_s != (3.0, 8.0):
            words += ["--nemesis-fault", ",".join(f"{value:g}" for value in self.nemesis_fault_s)]
        return shlex.join(words)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["hosts"] = str(self.hosts) if self.hosts else None
        data["rerun"] = self.rerun_command()
        return data


def write_metadata(run_dir: Path, metadata: dict[str, Any]) -> None:
    (run_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str) + "\n")


def read_metadata(run_dir: Path) -> dict[str, Any]:
    """The run's metadata.

    Raises:
        FileNotFoundError: the folder has no run.json (not a run folder, or the run died early).
    """
    path = run_dir / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: is {run_dir} a folder written by `harness run`?"
        )
    return json.loads(path.read_text())
