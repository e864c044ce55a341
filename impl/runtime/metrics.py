"""Prometheus metrics of one node, in a registry of its own.

A registry per ``Metrics`` object (not prometheus-client's global one) lets
tests build several nodes in one process without name clashes. Metrics
touched once per request (``proposals``, ``forwarded``) look their label
children up in a dict (``Children``): prometheus-client's ``labels()``
validates and locks on every call, a few microseconds each on the leader's
hot path.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

M = TypeVar("M", Counter, Gauge, Histogram)

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Children(Generic[M]):
    """A labelled metric whose child per label set is built once and then reused."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[tuple[str, str], ...], M] = {}

    def labels(self, **labels: str) -> M:
        key = tuple(labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.metric.labels(**labels)
        return child


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.role = Gauge(
            "sinkron_raft_role", "1 for the role this node holds", ["role"], registry=r
        )
        self.term = Gauge("sinkron_raft_term", "current Raft term", registry=r)
        self.commit_index = Gauge("sinkron_raft_commit_index", "Raft commit index", registry=r)
        self.applied_index = Gauge(
            "sinkron_raft_applied_index", "index applied to services", registry=r
        )
        self.proposals = Children(
            Counter(
                "sinkron_proposals",
                "service commands proposed by this node as leader",
                ["service"],
                registry=r,
            )
        )
        self.fsync_seconds = Histogram(
            "sinkron_fsync_seconds",
            "duration of one group commit (transaction + fsync)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.group_commit_size = Histogram(
            "sinkron_group_commit_size",
            "Persist effects written per fsync",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.request_seconds = Children(
            Histogram(
                "sinkron_http_request_seconds",
                "HTTP request latency",
                ["endpoint", "method"],
                buckets=_LATENCY_BUCKETS,
                registry=r,
            )
        )
        self.dropped_frames = Counter(
            "sinkron_dropped_frames",
            "peer frames dropped (reason: auth, malformed, oversized, queue-full)",
            ["reason"],
            registry=r,
        )
        self.peer_connected = Gauge(
            "sinkron_peer_connected",
            "1 when the dialed connection to the peer is up",
            ["peer"],
            registry=r,
        )
        self.forwarded = Children(
            Counter(
                "sinkron_forwarded_requests",
                "client requests forwarded to the leader",
                ["kind"],
                registry=r,
            )
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
