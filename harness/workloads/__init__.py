"""Workloads: operation generators and interpreters, one per service (see base.py).

Registering a workload is one line in ``WORKLOADS`` (module:class, imported
only when the workload is chosen, so a missing one fails cleanly at run time).
"""

from __future__ import annotations

import importlib

from harness.workloads.base import Workload

WORKLOADS: dict[str, str] = {
    "kv": "harness.workloads.kv:KvWorkload",
    "lock": "harness.workloads.lock:LockWorkload",
    "fenced": "harness.workloads.fenced:FencedWorkload",
}


def load_workload(name: str) -> type[Workload]:
    """The workload class registered as ``name``.

    Raises:
        LookupError: the name is unknown or its module is not written yet.
    """
    target = WORKLOADS.get(name)
    if target is None:
        raise LookupError(
            f"workload {name!r} not available yet (known: {', '.join(sorted(WORKLOADS))})"
        )
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise LookupError(f"workload {name!r} not available yet: {error}") from error
    return getattr(module, class_name)
