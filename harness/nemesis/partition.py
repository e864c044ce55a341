"""Network partitions drawn from Jepsen's grudges (see grudges.py)."""

from __future__ import annotations

from typing import ClassVar

from harness.backends.base import Link
from harness.nemesis import grudges
from harness.nemesis.context import NemesisContext
from harness.nemesis.fault import Fault

GRUDGE_NAMES = ("isolate-one", "isolate-leader", "majorities-ring", "bridge", "random-halves")


def _describe(links: set[Link]) -> str:
    return " ".join(f"{source}->{target}" for source, target in sorted(links))


class PartitionFault(Fault):
    """Cut links by one grudge per window; ``asymmetric`` keeps one direction of each cut."""

    kind: ClassVar[str] = "partition"

    def __init__(
        self, *, asymmetric: bool = False, grudge_names: tuple[str, ...] = GRUDGE_NAMES
    ) -> None:
        self.asymmetric = asymmetric
        self.grudge_names = grudge_names

    async def _grudge(self, name: str, context: NemesisContext) -> grudges.Grudge:
        nodes = context.nodes
        if name == "isolate-one":
            return grudges.isolate(context.rng.choice(nodes), nodes)
        if name == "isolate-leader":
            return grudges.isolate(await context.leader_or_random(), nodes)
        if name == "majorities-ring":
            shuffled = list(nodes)
            context.rng.shuffle(shuffled)
            return grudges.majorities_ring_grudge(shuffled)
        if name == "bridge":
            shuffled = list(nodes)
            context.rng.shuffle(shuffled)
            return grudges.bridge_grudge(shuffled)
        if name == "random-halves":
            return grudges.random_halves(nodes, context.rng)
        raise ValueError(f"unknown grudge {name!r}; choose one of {', '.join(GRUDGE_NAMES)}")

    async def start(self, context: NemesisContext) -> str:
        name = context.rng.choice(self.grudge_names)
        links = grudges.grudge_links(await self._grudge(name, context))
        if self.asymmetric:
            links = grudges.make_asymmetric(links, context.rng)
        await context.backend.partition(links)
        return f"{name}: {_describe(links)}"

    async def stop(self, context: NemesisContext) -> str:
        await context.backend.heal()
        return "healed"

    async def heal(self, context: NemesisContext) -> None:
        await context.backend.heal()
