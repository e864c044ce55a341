"""Narrow error classes for caller misuse (STYLE.md §5).

Protocol outcomes (a rejected vote, "not leader") are data, never exceptions.
These classes are for misuse: our fault (LocalProtocolError) or the peer's
fault (RemoteProtocolError). Messages say what to do instead.
"""


class SinkronError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigurationError(SinkronError, ValueError):
    """Invalid configuration: duplicate node ids, an empty cluster, a learner that is also a voter."""


class LocalProtocolError(SinkronError):
    """The caller used a state machine in a way its contract forbids (our fault)."""


class RemoteProtocolError(SinkronError):
    """A peer or client sent something malformed (their fault); the node drops it and counts it."""


class StorageError(SinkronError):
    """A data directory is damaged or belongs to another cluster; the node refuses to start."""
