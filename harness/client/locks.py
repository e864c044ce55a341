"""Lock-manager calls of the client: reserved for the lock service's helper.

``AsyncClient`` inherits ``LocksMixin`` so that ``client.lock("name",
mode="exclusive", ttl=10)`` and friends can be added here without touching
the transport code in ``async_client.py``. Methods added here should be
built on ``self.request(method, path, json)``, which already does leader
discovery, safe retries and the ``OperationFailed`` / ``OutcomeUnknown``
classification (see ``harness/client/errors.py``).
"""

from __future__ import annotations


class LocksMixin:
    """Empty on purpose until the lock manager's client calls land (API.md /locks/...)."""
