"""Tunables of one Raft node, counted in ticks and entries.

Theory of operation: every timing in the core is a number of ``Tick`` events,
so the same configuration means "10 ticks" in the simulator and "10 x 50 ms"
in the real runtime. The object validates itself on construction, so a
``RaftNode`` never runs with a configuration that cannot elect a leader
(Raft §5.6: broadcastTime << electionTimeout).
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.errors import ConfigurationError


@dataclass(frozen=True, slots=True, kw_only=True)
class RaftConfig:
    """Knobs of the Raft core; every field has a safe default.

    Election timeouts are drawn uniformly from [min, max] (Raft §5.2); equal
    bounds switch randomization off, which is only useful in tests whose
    draw function fixes each node's timeout: with identical timeouts nodes
    can split their votes forever.

    Raises:
        ConfigurationError: a field is out of range; the message names it.
    """

    election_timeout_ticks_min: int = 10
    election_timeout_ticks_max: int = 20
    heartbeat_interval_ticks: int = 2
    max_entries_per_append: int = 64
    max_inflight_appends: int = 16
    max_append_bytes: int = 1 << 20
    pre_vote: bool = True
    check_quorum: bool = True

    def __post_init__(self) -> None:
        for name in (
            "election_timeout_ticks_min",
            "election_timeout_ticks_max",
            "heartbeat_interval_ticks",
            "max_entries_per_append",
            "max_inflight_appends",
            "max_append_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"RaftConfig.{name} must be a positive int, got {value!r}")
        for name in ("pre_vote", "check_quorum"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(f"RaftConfig.{name} must be a bool")
        if self.election_timeout_ticks_max < self.election_timeout_ticks_min:
            raise ConfigurationError(
                "RaftConfig.election_timeout_ticks_max must be >= election_timeout_ticks_min "
                f"({self.election_timeout_ticks_max} < {self.election_timeout_ticks_min})"
            )
        if self.heartbeat_interval_ticks >= self.election_timeout_ticks_min:
            # Raft §5.6: followers would time out between two heartbeats of a healthy leader.
            raise ConfigurationError(
                "RaftConfig.heartbeat_interval_ticks must be smaller than election_timeout_ticks_min "
                f"({self.heartbeat_interval_ticks} >= {self.election_timeout_ticks_min})"
            )
