"""Grudges become exactly the directed links Jepsen's partitions describe."""

from __future__ import annotations

import random

import pytest

from harness.nemesis import grudges

THREE = ["n1", "n2", "n3"]
FIVE = ["n1", "n2", "n3", "n4", "n5"]


def both_ways(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, b in pairs} | {(b, a) for a, b in pairs}


def reachable_from(node: str, nodes: list[str], links: set[tuple[str, str]]) -> set[str]:
    """The nodes whose messages reach ``node`` (itself included)."""
    return {other for other in nodes if other == node or (other, node) not in links}


def test_isolating_one_of_three_cuts_its_four_links() -> None:
    """Isolating n2 cuts n2<->n1 and n2<->n3 in both directions, nothing else."""
    links = grudges.grudge_links(grudges.isolate("n2", THREE))
    assert links == both_ways([("n2", "n1"), ("n2", "n3")])


def test_isolating_one_of_five_leaves_the_other_four_connected() -> None:
    """Only the eight links touching the isolated node are cut."""
    links = grudges.grudge_links(grudges.isolate("n5", FIVE))
    assert links == both_ways([("n5", other) for other in FIVE[:4]])


@pytest.mark.parametrize("nodes", [THREE, FIVE])
def test_random_halves_cut_every_link_between_a_minority_and_a_majority(nodes: list[str]) -> None:
    """Every cross link is cut both ways, and the smaller side is a strict minority."""
    links = grudges.grudge_links(grudges.random_halves(nodes, random.Random(7)))
    side = reachable_from(nodes[0], nodes, links)
    other = set(nodes) - side
    assert {len(side), len(other)} == {len(nodes) // 2, len(nodes) - len(nodes) // 2}
    assert links == {(a, b) for a in side for b in other} | {(b, a) for a in side for b in other}


def test_bridge_of_five_has_one_node_in_both_majorities() -> None:
    """n3 hears everyone; {n1,n2} and {n4,n5} do not hear each other (Jepsen's bridge)."""
    links = grudges.grudge_links(grudges.bridge_grudge(FIVE))
    cut_pairs = [(a, b) for a in ("n1", "n2") for b in ("n4", "n5")]
    assert links == both_ways(cut_pairs)
    assert reachable_from("n3", FIVE, links) == set(FIVE)


def test_bridge_of_three_cuts_the_two_ends_apart() -> None:
    links = grudges.grudge_links(grudges.bridge_grudge(THREE))
    assert links == both_ways([("n1", "n3")])


@pytest.mark.parametrize("nodes", [THREE, FIVE])
def test_majorities_ring_gives_every_node_a_distinct_majority(nodes: list[str]) -> None:
    """Each node hears a majority, and no two nodes hear the same set."""
    links = grudges.grudge_links(grudges.majorities_ring_grudge(nodes))
    heard = [frozenset(reachable_from(node, nodes, links)) for node in nodes]
    assert all(len(view) == len(nodes) // 2 + 1 for view in heard)
    assert len(set(heard)) == len(nodes)


def test_majorities_ring_of_five_is_symmetric_neighbours() -> None:
    """With five nodes each node hears exactly its two ring neighbours, both ways."""
    links = grudges.grudge_links(grudges.majorities_ring_grudge(FIVE))
    assert all((b, a) in links for a, b in links)
    assert reachable_from("n1", FIVE, links) == {"n5", "n1", "n2"}


def test_asymmetric_partition_keeps_one_direction_of_each_cut_pair() -> None:
    """Every symmetric pair loses exactly one direction; nothing new is cut."""
    symmetric = grudges.grudge_links(grudges.isolate("n1", FIVE))
    one_way = grudges.make_asymmetric(symmetric, random.Random(3))
    assert one_way <= symmetric
    assert len(one_way) == len(symmetric) // 2
    assert all((b, a) not in one_way for a, b in one_way)


def test_no_grudge_cuts_a_node_from_itself() -> None:
    rng = random.Random(1)
    for nodes in (THREE, FIVE):
        for grudge in (
            grudges.isolate(nodes[0], nodes),
            grudges.random_halves(nodes, rng),
            grudges.bridge_grudge(nodes),
            grudges.majorities_ring_grudge(nodes),
        ):
            assert all(a != b for a, b in grudges.grudge_links(grudge))


def test_asymmetric_partition_of_a_single_pair_keeps_one_direction_for_every_seed() -> None:
    """Whichever direction the rng keeps first, the other is never added back."""
    for seed in range(20):
        one_way = grudges.make_asymmetric({("n2", "n3"), ("n3", "n2")}, random.Random(seed))
        assert len(one_way) == 1
