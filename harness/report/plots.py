"""latency.png and rate.png: what the clients saw over time, with fault windows shaded.

Matplotlib runs with the Agg backend (no display needed). Both plots share the
x axis "seconds since start" so they line up with timeline.html.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from harness.history.ops import Op
from harness.report.results_json import pair_ops

_COLOURS = {"ok": "tab:blue", "fail": "tab:orange", "info": "tab:red"}


def _shade(axes: plt.Axes, windows: Sequence[tuple[int, int, str]]) -> None:
    for index, (start, end, label) in enumerate(windows):
        axes.axvspan(
            start / 1e9,
            end / 1e9,
            color="tab:gray",
            alpha=0.2,
            label="fault" if index == 0 else None,
        )
        axes.text(
            start / 1e9,
            1.0,
            label.split(":")[0],
            transform=axes.get_xaxis_transform(),
            fontsize=7,
            va="top",
            color="dimgray",
        )


def plot_latency(
    path: Path, ops: Sequence[Op], windows: Sequence[tuple[int, int, str]], *, title: str
) -> None:
    """Scatter of latency (ms, log scale) against invoke time, one colour per outcome."""
    figure, axes = plt.subplots(figsize=(10, 4.5))
    _shade(axes, windows)
    pairs = [pair for pair in pair_ops(ops) if pair.completion is not None]
    for outcome, colour in _COLOURS.items():
        chosen = [pair for pair in pairs if pair.outcome == outcome]
        if chosen:
            axes.scatter(
                [pair.invoke.time / 1e9 for pair in chosen],
                [max(pair.latency_ms or 0.0, 0.01) for pair in chosen],
                s=6,
                color=colour,
                label=f"{outcome} ({len(chosen)})",
                alpha=0.7,
            )
    axes.set_yscale("log")
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("latency (ms)")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_rate(
    path: Path,
    ops: Sequence[Op],
    windows: Sequence[tuple[int, int, str]],
    *,
    title: str,
    bucket_s: float = 1.0,
) -> None:
    """Completed ops per second over time, one line per outcome."""
    figure, axes = plt.subplots(figsize=(10, 4.5))
    _shade(axes, windows)
    pairs = [pair for pair in pair_ops(ops) if pair.completion is not None]
    end_s = max((pair.completion.time for pair in pairs if pair.completion), default=0) / 1e9
    buckets = int(end_s / bucket_s) + 1
    for outcome, colour in _COLOURS.items():
        counts = [0] * buckets
        for pair in pairs:
            if pair.outcome == outcome and pair.completion is not None:
                counts[int(pair.completion.time / 1e9 / bucket_s)] += 1
        if any(counts):
            axes.plot(
                [bucket * bucket_s for bucket in range(buckets)],
                [count / bucket_s for count in counts],
                color=colour,
                label=outcome,
                drawstyle="steps-post",  # each step covers its bucket [t, t + bucket_s)
            )
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("completed ops/s")
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
