"""Fault injection for the seeded simulator: partitions, crashes, membership, transfers.

Theory of operation: once per tick the nemesis may start or end a fault,
each with the per-tick probability in ``SimOptions``. Partition shapes are
Jepsen's (isolate one node, isolate the leader, majorities ring, bridge,
random halves) plus an asymmetric cut (one direction only) and
FoundationDB-style clogging (a node's links become very slow, then recover).
A partition lasts a random number of ticks, then heals. Crashed nodes come
back after a random pause. Membership changes (add a learner, promote it,
remove a voter, the leader included) and leadership transfers go to the
current leader as ordinary requests, so they race with client load.
Every choice uses the run's one RNG.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.sim.cluster import SimCluster
from harness.sim.options import TICK_US, SimOptions
from impl.raft.events import ConfigChangeKind, ProposeConfigChange, TransferLeadership
from impl.raft.types import NodeId


@dataclass(slots=True)
class Nemesis:
    cluster: SimCluster
    rng: random.Random
    options: SimOptions
    partition_until: int | None = None
    restart_at: dict[NodeId, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    _spares: int = 0

    def act(self, tick: int) -> None:
        options = self.options
        rng = self.rng
        if self.partition_until is not None and tick >= self.partition_until:
            self.heal_network()
        elif self.partition_until is None and rng.random() < options.partition_probability:
            self._partition(tick)
        for node_id, at in list(self.restart_at.items()):
            if tick >= at:
                del self.restart_at[node_id]
                if not self.cluster.slots[node_id].removed:
                    self.cluster.start(node_id)
                    self.log.append(f"t={tick} restart {node_id}")
        if rng.random() < options.crash_probability:
            self._crash(tick)
        if rng.random() < options.membership_probability:
            self._change_membership(tick)
        if rng.random() < options.transfer_probability:
            self._transfer(tick)

    def heal_network(self) -> None:
        self.cluster.network.heal()
        self.partition_until = None

    def _partition(self, tick: int) -> None:
        cluster, rng = self.cluster, self.rng
        nodes = sorted(cluster.live)
        if len(nodes) < 2:
            return
        everyone = set(cluster.slots)
        kind = rng.choice(self.options.partition_kinds)
        network = cluster.network
        if kind == "isolate-one" or (kind == "isolate-leader" and cluster.leader() is None):
            victim = rng.choice(nodes)
            network.isolate([{victim}, everyone - {victim}], everyone)
        elif kind == "isolate-leader":
            leader = cluster.leader()
            assert leader is not None
            network.isolate([{leader}, everyone - {leader}], everyone)
        elif kind == "random-halves":
            rng.shuffle(nodes)
            cut = rng.randint(1, len(nodes) - 1)
            network.isolate([set(nodes[:cut]), set(nodes[cut:])], everyone)
        elif kind == "bridge":
            rng.shuffle(nodes)
            half = len(nodes) // 2
            bridge = nodes[half]
            network.isolate([set(nodes[:half]), set(nodes[half + 1 :])], everyone)
            for other in nodes:
                network.blocked.discard((bridge, other))
                network.blocked.discard((other, bridge))
        elif kind == "majorities-ring":
            rng.shuffle(nodes)
            n = len(nodes)
            reach = max(1, (n // 2 + 1) // 2)
            network.blocked.clear()
            for i, a in enumerate(nodes):
                for j, b in enumerate(nodes):
                    distance = min((i - j) % n, (j - i) % n)
                    if a != b and distance > reach:
                        network.blocked.add((a, b))
        elif kind == "asymmetric":
            victim = rng.choice(nodes)
            outgoing = rng.random() < 0.5
            network.blocked.clear()
            for other in everyone - {victim}:
                network.blocked.add((victim, other) if outgoing else (other, victim))
        else:  # clog
            for victim in rng.sample(nodes, rng.randint(1, max(1, len(nodes) // 2))):
                network.clogged[victim] = rng.randint(5, 60) * TICK_US
        self.partition_until = tick + rng.randint(10, 150)
        self.log.append(f"t={tick} partition {kind} blocked={len(network.blocked)}")

    def _crash(self, tick: int) -> None:
        live = self.cluster.live
        if not live:
            return
        if self.options.crash_during_writes:
            busy = [n for n in live if self.cluster.slots[n].storage.pending]
            live = busy or live
        victim = self.rng.choice(live)
        self.cluster.crash(victim)
        self.restart_at[victim] = tick + self.rng.randint(1, self.options.restart_ticks_max)
        self.log.append(f"t={tick} crash {victim}")

    def _change_membership(self, tick: int) -> None:
        cluster, rng = self.cluster, self.rng
        leader_id = cluster.leader()
        if leader_id is None:
            return
        config = cluster.node(leader_id).config
        roll = rng.random()
        if config.learners and roll < 0.5:
            kind, target = ConfigChangeKind.PROMOTE, rng.choice(sorted(config.learners))
        elif roll < 0.75 and len(config.voters) > 3:
            kind, target = ConfigChangeKind.REMOVE, rng.choice(sorted(config.voters))
        elif len(config.members) < self.options.nodes + 2 and self._spares < 6:
            self._spares += 1
            target = NodeId(f"s{self._spares}")
            cluster.add_spare(target)
            kind = ConfigChangeKind.ADD_LEARNER
        else:
            return
        request = ProposeConfigChange(request_id=cluster.next_request_id(), kind=kind, node=target)
        self.log.append(f"t={tick} {kind.value} {target} via {leader_id}")
        cluster.step(leader_id, request)

    def _transfer(self, tick: int) -> None:
        cluster, rng = self.cluster, self.rng
        leader_id = cluster.leader()
        if leader_id is None:
            return
        voters = sorted(cluster.node(leader_id).config.voters - {leader_id})
        if not voters:
            return
        target = rng.choice(voters)
        self.log.append(f"t={tick} transfer {leader_id}->{target}")
        cluster.step(leader_id, TransferLeadership(request_id=cluster.next_request_id(), to=target))
