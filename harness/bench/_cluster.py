"""A local Sinkron cluster for benchmarks: the LocalBackend with test hooks off."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from harness.backends.base import ClusterSpec


@contextlib.asynccontextmanager
async def sinkron_cluster(nodes: int = 3, *, fsync: bool = True) -> AsyncIterator[list[str]]:
    """Yield the HTTP URLs of a fresh local cluster; fsync on unless asked otherwise."""
    from harness.backends.local import LocalBackend

    with tempfile.TemporaryDirectory(prefix="sinkron-bench-") as tmp:
        spec = ClusterSpec(
            nodes=nodes,
            run_dir=Path(tmp),
            test_hooks=False,
            extra_env={"SINKRON_FSYNC": "1" if fsync else "0", "SINKRON_LOG_LEVEL": "warning"},
        )
        backend = LocalBackend(spec)
        try:
            await backend.start()
            yield [backend.client_url(node) for node in backend.node_ids]
        finally:
            await backend.close()


def quantile_ms(seconds: list[float], q: float) -> float:
    """The q-quantile of a list of durations in seconds, in milliseconds (nan when empty)."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
