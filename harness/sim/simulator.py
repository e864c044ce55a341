"""The seeded simulation: one RNG, a safety phase with faults, a liveness phase, a verdict.

Theory of operation (TigerBeetle VOPR, FoundationDB simulation): every source
of nondeterminism (network delays, losses, disk latency, crashes, client
choices, election timeouts) draws from one ``random.Random(seed)``, so a seed
is a complete, replayable test case. A run is:

1. Safety phase, ``options.ticks`` ticks. Each tick: the nemesis may start
   or end faults; messages and disk completions due within the tick are
   carried out in simulated-time order; every live node gets one ``Tick``;
   nodes compact their logs when due; clients act; the spec invariants are
   checked on a snapshot of the cluster.
2. Liveness phase: heal the network, restore link quality, restart crashed
   nodes (all of them, or, when ``quorum_core_heal``, just enough for a
   majority core), then require a client operation to complete ok within
   ``options.liveness_ticks`` ticks.
3. The history of client operations goes to the linearizability checker.

Failure kinds (exit codes as in API.md): CORRECTNESS (an invariant, an
``assert`` inside node code, or a non-linearizable history: exit 1),
LIVENESS (no progress after healing: exit 2), CRASH (node code raised
something other than AssertionError: exit 2). A checker that runs out of
budget is UNKNOWN (exit 2) rather than a pass. Every loop is bounded.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.check.verdict import CheckResult, Verdict
from harness.history.ops import Op
from harness.sim.clients import SimClients
from harness.sim.cluster import NodeFactory, NodeFailed, SimCluster
from harness.sim.nemesis import Nemesis
from harness.sim.network import LinkFaults, SimNetwork
from harness.sim.options import TICK_US, SimOptions
from impl.raft.config import RaftConfig
from impl.raft.events import CompactLog
from impl.raft.types import Index, NodeId

_real_check: Callable[..., CheckResult] | None
try:
    from harness.check.linearizable import check_linearizable as _real_check
except ImportError:  # pragma: no cover - only before the real checker landed
    _real_check = None


def check_history(ops: list[Op], timeout_s: float = 20.0) -> CheckResult:
    """The real WGL checker when present, else the bounded brute-force fallback."""
    if _real_check is not None:
        return _real_check(ops, "kv", timeout_s=timeout_s)
    from harness.sim.bruteforce_check import check_linearizable

    return check_linearizable(ops, "kv", timeout_s=timeout_s)


class Failure(enum.Enum):
    NONE = 0
    CORRECTNESS = 1
    LIVENESS = 2
    CRASH = 3
    UNKNOWN = 4  # the checker ran out of budget

    @property
    def exit_code(self) -> int:
        return {Failure.NONE: 0, Failure.CORRECTNESS: 1}.get(self, 2)


@dataclass(slots=True, kw_only=True)
class SimResult:
    seed: int
    options: SimOptions
    failure: Failure = Failure.NONE
    reason: str = ""
    ticks_run: int = 0
    messages: int = 0
    ops: int = 0
    ok_ops: int = 0
    elapsed_s: float = 0.0
    history: list[Op] = field(default_factory=list)
    nemesis_log: list[str] = field(default_factory=list)
    check: CheckResult | None = None


class Simulator:
    """One seeded run; ``node_factory`` lets tests plug in a deliberately broken RaftNode."""

    def __init__(
        self,
        options: SimOptions,
        rng: random.Random,
        *,
        node_factory: NodeFactory | None = None,
        raft_config: RaftConfig | None = None,
        check_every_ticks: int = 1,
    ) -> None:
        self.options = options
        self.rng = rng
        self.check_every_ticks = check_every_ticks
        network = SimNetwork(
            rng=rng,
            faults=LinkFaults(
                drop_probability=options.drop_probability,
                duplicate_probability=options.duplicate_probability,
                delay_us_min=100,
                delay_us_max=options.delay_us_max,
            ),
        )
        kwargs: dict[str, Any] = {}
        if node_factory is not None:
            kwargs["node_factory"] = node_factory
        kwargs["raft_config"] = raft_config if raft_config is not None else options.raft_config()
        disk_max = options.disk_delay_us_max
        self.cluster = SimCluster(
            voters=[NodeId(f"n{i + 1}") for i in range(options.nodes)],
            rng=rng,
            network=network,
            disk_delay=(lambda: rng.randint(0, disk_max)) if disk_max else (lambda: 0),
            **kwargs,
        )
        self.clients = SimClients(
            cluster=self.cluster,
            rng=rng,
            count=options.clients,
            keys=options.keys,
            timeout_us=options.client_timeout_ticks * TICK_US,
        )
        self.nemesis = Nemesis(cluster=self.cluster, rng=rng, options=options)
        self.tick_count = 0

    # -- one tick ---------------------------------------------------------------------------

    def _advance_to(self, until: int) -> None:
        """Carry out deliveries and disk completions due before ``until``, in time order.

        Each round moves the clock to the earliest due event, finishes every
        write due by then (node by node), then delivers every message due by
        then; what those steps cause is due later or in the next round.
        """
        cluster, network = self.cluster, self.cluster.network
        for _ in range(100_000):
            next_message = network.next_due()
            next_disk = cluster.next_write_due()
            if next_disk is not None and (next_message is None or next_disk < next_message):
                due = next_disk
            elif next_message is not None:
                due = next_message
            else:
                break
            if due > until:
                break
            if due > cluster.now:
                cluster.now = due
            if next_disk is not None and next_disk <= cluster.now:
                cluster.complete_due_writes(cluster.now)
            for message in network.take_due(cluster.now):
                cluster.deliver(message)
        cluster.now = until

    def _compact(self) -> None:
        every = self.options.compact_every
        if not every:
            return
        for node_id in self.cluster.live:
            slot = self.cluster.slots[node_id]
            raft = slot.raft
            snapshot = raft.snapshot
            base = snapshot.index if snapshot is not None else 0
            if slot.applied_index - base >= every and slot.machine is not None:
                data = slot.machine.snapshot()
                self.cluster.step(node_id, CompactLog(index=Index(slot.applied_index), data=data))

    def tick(self, *, faults: bool) -> None:
        self.tick_count += 1
        if faults:
            self.nemesis.act(self.tick_count)
        self._advance_to(self.tick_count * TICK_US)
        order = self.cluster.live
        self.rng.shuffle(order)
        for node_id in order:
            self.cluster.tick(node_id)
        self._compact()
        self.clients.act()
        if self.tick_count % self.check_every_ticks == 0:
            self.cluster.check()

    # -- phases -----------------------------------------------------------------------------

    def _heal(self) -> None:
        cluster, rng = self.cluster, self.rng
        self.nemesis.heal_network()
        cluster.network.faults = LinkFaults(delay_us_min=100, delay_us_max=1000)
        cluster.disk_delay = lambda: rng.randint(0, 300)
        crashed = sorted(cluster.crashed)
        self.nemesis.restart_at.clear()
        if self.options.quorum_core_heal:
            voters = sorted(cluster.committed_config.voters)
            up = [v for v in voters if cluster.node(v) is not None]
            need = len(voters) // 2 + 1 - len(up)
            down = [v for v in voters if v in crashed]
            rng.shuffle(down)
            crashed = down[: max(need, 0)]
        for node_id in crashed:
            cluster.start(node_id)

    def run(self) -> tuple[Failure, str]:
        options = self.options
        for _ in range(options.ticks):
            self.tick(faults=True)
        self._heal()
        ok_before = self.clients.ok_count
        for _ in range(options.liveness_ticks):
            self.tick(faults=False)
            if self.clients.ok_count > ok_before:
                break
        else:
            return Failure.LIVENESS, (
                f"no client operation completed within {options.liveness_ticks} ticks "
                f"after healing (leader: {self.cluster.leader()})"
            )
        self.clients.enabled = False
        for _ in range(options.client_timeout_ticks + 1):
            if not any(c.pending for c in self.clients.clients):
                break
            self.tick(faults=False)
        self.clients.finish()
        self.cluster.check()
        return Failure.NONE, ""


def run_seed(
    seed: int,
    *,
    nodes: int = 5,
    ticks: int = 600,
    node_factory: NodeFactory | None = None,
    raft_config: RaftConfig | None = None,
    options_override: Callable[[SimOptions], SimOptions] | None = None,
    out: Callable[[str], None] = print,
) -> SimResult:
    """Run one seed end to end and classify the outcome; prints ``SEED=`` and the knobs first."""
    started = time.perf_counter()
    rng = random.Random(seed)
    options = SimOptions.swarm(rng, nodes=nodes, ticks=ticks)
    if options_override is not None:
        options = options_override(options)
    out(f"SEED={seed} {options}")
    result = SimResult(seed=seed, options=options)
    simulator = None
    try:
        simulator = Simulator(options, rng, node_factory=node_factory, raft_config=raft_config)
        result.failure, result.reason = simulator.run()
    except NodeFailed as failed:
        kind = Failure.CORRECTNESS if isinstance(failed.error, AssertionError) else Failure.CRASH
        result.failure, result.reason = kind, str(failed)
    except AssertionError as error:  # spec invariants, storage and apply-order checks
        result.failure, result.reason = Failure.CORRECTNESS, str(error)
    if simulator is not None:
        cluster = simulator.cluster
        result.ticks_run = simulator.tick_count
        result.messages = cluster.network.messages_sent
        result.history = simulator.clients.history
        result.nemesis_log = simulator.nemesis.log
        result.ops = sum(1 for op in result.history if op.type.value == "invoke")
        result.ok_ops = simulator.clients.ok_count
        if result.failure is Failure.NONE:
            simulator.clients.finish()
            check = check_history(result.history)
            result.check = check
            if check.verdict is Verdict.ILLEGAL:
                result.failure = Failure.CORRECTNESS
                result.reason = "history is not linearizable: " + "; ".join(check.reasons)
            elif check.verdict is Verdict.UNKNOWN:
                result.failure = Failure.UNKNOWN
                result.reason = "linearizability unknown: " + "; ".join(check.reasons)
    result.elapsed_s = time.perf_counter() - started
    return result


def replay_command(seed: int, nodes: int, ticks: int) -> str:
    return f"harness sim --seed {seed} --count 1 --nodes {nodes} --ticks {ticks}"
