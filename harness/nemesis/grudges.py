"""Network partitions as Jepsen grudges, turned into sets of directed links.

Theory of operation: a *grudge* maps each node to the set of nodes it refuses
to hear from (Jepsen's ``jepsen.nemesis/complete-grudge`` and friends). The
backend speaks in directed links ``(from_node, to_node)``: blackholing
``(a, b)`` stops what a sends to b. A grudge ``{b: {a}}`` ("b ignores a")
therefore becomes the link ``(a, b)``.

Every function here is pure: node lists in, grudges or links out, and any
choice comes from the ``random.Random`` passed in, so a seeded run draws the
same partitions again.

Rules:
  Rule 1. A symmetric partition lists both directions of every cut link.
  Rule 2. An asymmetric partition keeps exactly one direction of each cut
          pair, chosen by the rng, so messages flow one way only.
  Rule 3. No grudge ever cuts a node from itself.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.backends.base import Link

Grudge = dict[str, frozenset[str]]  # node -> the nodes it will not hear from


def complete_grudge(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node ignores every node outside its own component (Jepsen ``complete-grudge``)."""
    everyone = [node for component in components for node in component]
    grudge: Grudge = {}
    for component in components:
        members = set(component)
        for node in component:
            grudge[node] = frozenset(other for other in everyone if other not in members)
    return grudge


def bridge_grudge(nodes: Sequence[str]) -> Grudge:
    """Two halves that both see one bridge node (Jepsen ``bridge``).

    With five nodes a, b, c, d, e the bridge is c: {a, b, c} and {c, d, e}
    are both majorities, and they overlap only in c. Raft must still never
    elect two leaders in one term.
    """
    count = len(nodes)
    middle = count // 2
    left, bridge, right = list(nodes[:middle]), nodes[middle], list(nodes[middle + 1 :])
    grudge: Grudge = {bridge: frozenset()}
    for node in left:
        grudge[node] = frozenset(right)
    for node in right:
        grudge[node] = frozenset(left)
    return grudge


def majorities_ring_grudge(nodes: Sequence[str]) -> Grudge:
    """Each node hears a majority, and no two nodes hear the same one (Jepsen ``majorities-ring``).

    Arrange the nodes in a ring; node i hears the window of ``m = n // 2 + 1``
    consecutive nodes that starts ``(m - 1) // 2`` places before it. With five
    nodes that is each node and its two neighbours (symmetric); with three it
    is each node and its successor, which can only be done with one-way cuts.
    """
    count = len(nodes)
    majority = count // 2 + 1
    before = (majority - 1) // 2
    grudge: Grudge = {}
    for position, node in enumerate(nodes):
        heard = {nodes[(position - before + step) % count] for step in range(majority)}
        grudge[node] = frozenset(other for other in nodes if other not in heard)
    return grudge


def grudge_links(grudge: Grudge) -> set[Link]:
    """The directed links a grudge cuts: ``b ignores a`` cuts ``(a, b)``."""
    links = {(source, target) for target, ignored in grudge.items() for source in ignored}
    assert all(source != target for source, target in links), "a grudge never cuts self"
    return links


def make_asymmetric(links: set[Link], rng: random.Random) -> set[Link]:
    """Keep one direction of each cut pair (Rule 2); the other direction still flows."""
    kept: set[Link] = set()
    decided: set[frozenset[str]] = set()
    for source, target in sorted(links):
        pair = frozenset((source, target))
        if pair in decided:
            continue
        decided.add(pair)
        if (target, source) in links:
            kept.add(rng.choice([(source, target), (target, source)]))
        else:
            kept.add((source, target))
    return kept


def isolate(node: str, nodes: Sequence[str]) -> Grudge:
    """One node alone, the rest together."""
    return complete_grudge([[node], [other for other in nodes if other != node]])


def random_halves(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """A random minority and majority (Jepsen ``partition-random-halves``)."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    minority_size = len(shuffled) // 2
    return complete_grudge([shuffled[:minority_size], shuffled[minority_size:]])
