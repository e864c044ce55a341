"""Nemesis names on the command line -> fault objects (``--nemesis partition,kill``)."""

from __future__ import annotations

from collections.abc import Callable

from harness.nemesis.clock import ClockFault
from harness.nemesis.fault import Fault
from harness.nemesis.kill import KillFault
from harness.nemesis.partition import PartitionFault
from harness.nemesis.pause import PauseFault

KINDS = ("partition", "kill", "pause", "clock")


def _factories(asymmetric: bool) -> dict[str, Callable[[], Fault]]:
    return {
        "partition": lambda: PartitionFault(asymmetric=asymmetric),
        "kill": KillFault,
        "pause": PauseFault,
        "clock": ClockFault,
    }


def parse_nemesis(spec: str) -> list[str]:
    """Normalise ``none`` / ``all`` / ``a,b`` into a list of kinds.

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    names = [name.strip() for name in spec.split(",") if name.strip()]
    kinds: list[str] = []
    for name in names:
        if name == "none":
            continue
        expanded = KINDS if name == "all" else (name,)
        for kind in expanded:
            if kind not in KINDS:
                raise ValueError(
                    f"unknown nemesis {name!r}; use none, all or a comma list of {', '.join(KINDS)}"
                )
            if kind not in kinds:
                kinds.append(kind)
    return kinds


def build_faults(kinds: list[str], *, asymmetric: bool = False) -> list[Fault]:
    factories = _factories(asymmetric)
    return [factories[kind]() for kind in kinds]
