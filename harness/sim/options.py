"""Swarm options: the fault knobs of one simulation, drawn from its seed.

Theory of operation: TigerBeetle's VOPR and "swarm testing" (Groce et al.,
ISSTA 2012) show that varying *which* faults are on, and how hard, finds
more bugs than one fixed mix: some bugs need a quiet network and a busy
disk, others constant partitions. ``SimOptions.swarm(rng)`` draws every knob
from the run's one root RNG, so the seed alone reproduces the run, and
``str(options)`` is the one line printed after ``SEED=``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from impl.raft.config import RaftConfig

PARTITION_KINDS = (
    "isolate-one",
    "isolate-leader",
    "majorities-ring",
    "bridge",
    "random-halves",
    "asymmetric",
    "clog",
)

TICK_US = 1000  # one Raft tick is 1 ms of simulated time


@dataclass(frozen=True, slots=True, kw_only=True)
class SimOptions:
    nodes: int = 5
    ticks: int = 600
    liveness_ticks: int = 400
    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    delay_us_max: int = 500
    disk_delay_us_max: int = 0
    crash_probability: float = 0.0  # per tick
    crash_during_writes: bool = False  # prefer victims with writes in flight (worst moment)
    restart_ticks_max: int = 120
    partition_probability: float = 0.0  # per tick, while no partition is active
    partition_kinds: tuple[str, ...] = PARTITION_KINDS
    membership_probability: float = 0.0  # per tick
    transfer_probability: float = 0.0  # per tick
    compact_every: int = 0  # applied entries between snapshots; 0 = never
    clients: int = 3
    keys: int = 2
    client_timeout_ticks: int = 60
    quorum_core_heal: bool = False  # liveness phase: heal only a majority core, not everyone
    # RaftConfig knobs: legal configurations differ in timing and batching, not in safety.
    election_timeout_ticks_min: int = 10
    election_timeout_ticks_max: int = 20
    heartbeat_interval_ticks: int = 2
    max_entries_per_append: int = 64
    max_inflight_appends: int = 16
    pre_vote: bool = True
    check_quorum: bool = True

    @classmethod
    def swarm(cls, rng: random.Random, *, nodes: int = 5, ticks: int = 600) -> SimOptions:
        """Draw every knob from ``rng`` (call it first, so knobs depend only on the seed)."""
        kinds = tuple(kind for kind in PARTITION_KINDS if rng.random() < 0.6) or ("isolate-leader",)
        delay_us_max = rng.choice([300, 1000, 3000, 8000])
        return cls(
            nodes=nodes,
            ticks=ticks,
            drop_probability=rng.choice([0.0, 0.0, 0.01, 0.05, 0.15]),
            duplicate_probability=rng.choice([0.0, 0.02, 0.1]),
            delay_us_max=delay_us_max,
            disk_delay_us_max=rng.choice([0, 300, 1500, 4000]),
            crash_probability=rng.choice([0.0, 0.002, 0.006, 0.015]),
            crash_during_writes=rng.random() < 0.3,
            restart_ticks_max=rng.choice([5, 30, 120]),
            partition_probability=rng.choice([0.0, 0.005, 0.02, 0.05]),
            partition_kinds=kinds,
            membership_probability=rng.choice([0.0, 0.0, 0.005, 0.02]),
            transfer_probability=rng.choice([0.0, 0.003, 0.01]),
            compact_every=rng.choice([0, 8, 30, 100]),
            clients=rng.randint(2, 5),
            keys=rng.randint(1, 3),
            quorum_core_heal=rng.random() < 0.3,
            **cls._swarm_raft(rng, delay_us_max),
        )

    @staticmethod
    def _swarm_raft(rng: random.Random, delay_us_max: int) -> dict[str, Any]:
        # Raft §5.6: broadcastTime << electionTimeout. A round trip must fit in the
        # election timeout several times over, or no leader ever lasts: keep the
        # slowest normal round trip under half the shortest timeout. (Clogging
        # still breaks this on purpose, for a while.)
        round_trip_ticks = -(-2 * delay_us_max // TICK_US)
        low = max(rng.choice([5, 10, 10]), 2 * round_trip_ticks)
        return {
            "election_timeout_ticks_min": low,
            "election_timeout_ticks_max": low + rng.choice([2, low]),
            "heartbeat_interval_ticks": rng.choice([1, 2]),
            "max_entries_per_append": rng.choice([1, 4, 64]),
            "max_inflight_appends": rng.choice([1, 4, 16]),
            "pre_vote": rng.random() < 0.8,
            "check_quorum": rng.random() < 0.8,
        }

    def raft_config(self) -> RaftConfig:
        return RaftConfig(
            election_timeout_ticks_min=self.election_timeout_ticks_min,
            election_timeout_ticks_max=self.election_timeout_ticks_max,
            heartbeat_interval_ticks=self.heartbeat_interval_ticks,
            max_entries_per_append=self.max_entries_per_append,
            max_inflight_appends=self.max_inflight_appends,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
        )

    def __str__(self) -> str:
        parts = []
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = ",".join(value)
            parts.append(f"{field.name}={value}")
        return " ".join(parts)
