"""Python client of a Sinkron cluster: ``AsyncClient`` (aiohttp) and blocking ``Client``.

Every call returns a value, or raises ``OperationFailed`` (definitely not
applied / definitely refused) or ``OutcomeUnknown`` (may have been applied).
See ``async_client.py`` for the retry rules and docs/cluster.md for a tour.
"""

from harness.client.async_client import AsyncClient
from harness.client.errors import ClientError, OperationFailed, OutcomeUnknown, Unavailable
from harness.client.sync_client import Client

__all__ = [
    "AsyncClient",
    "Client",
    "ClientError",
    "OperationFailed",
    "OutcomeUnknown",
    "Unavailable",
]
