"""How a client call can end, other than with a value.

Theory of operation: a Jepsen-style history needs to know, for every
operation, whether it certainly happened, certainly did not happen, or might
have happened. The client therefore never lets a raw transport exception
escape; it sorts every outcome into exactly one of these classes:

- ``OperationFailed``: the cluster definitely did not apply the operation, or
  applied it and answered with a definite refusal (a ``cas-mismatch`` with the
  current value, ``not-found``, ``400`` bad input). The harness records ``fail``.
- ``OutcomeUnknown``: the request may have reached the leader and may have
  been applied: a timeout after sending, a connection reset after sending, a
  ``504 {"error": "timeout"}``, or a 5xx other than 503. The harness records
  ``info`` and the checker must allow both outcomes.

``Unavailable`` is the ``OperationFailed`` raised when every attempt got
``503 {"error": "unavailable"}`` or could not connect: nothing was sent to a
leader that could have applied it.
"""

from __future__ import annotations

from typing import Any

from impl.errors import SinkronError


class ClientError(SinkronError):
    """Base class of everything the client raises on purpose."""


class OperationFailed(ClientError):
    """The operation definitely did not take effect (or was definitely refused).

    Attributes:
        code: the ``error`` field of the reply (``"cas-mismatch"``,
            ``"not-found"``, ``"unavailable"``, ...), or ``"http-<status>"``
            when the body carried no code.
        status: the HTTP status, or None when no node could be reached.
        body: the decoded JSON body (``{}`` when there was none), e.g.
            ``{"error": "cas-mismatch", "current": 3}``.
    """

    def __init__(self, code: str, body: dict[str, Any] | None = None, *, status: int | None = None):
        self.code = code
        self.body: dict[str, Any] = dict(body or {})
        self.status = status
        message = self.body.get("message") or code
        super().__init__(f"{code} (HTTP {status}): {message}" if status else f"{code}: {message}")


class Unavailable(OperationFailed):
    """No node could serve the request (connection refused or 503 on every attempt)."""


class OutcomeUnknown(ClientError):
    """The request may or may not have been applied; record it as ``info``.

    Attributes:
        reason: a short machine-friendly cause (``"timeout"``,
            ``"connection-lost"``, ``"http-500"``, ``"server-timeout"``).
        url: the node the request was sent to.
    """

    def __init__(self, reason: str, *, url: str, detail: str = ""):
        self.reason = reason
        self.url = url
        super().__init__(f"outcome unknown ({reason}) at {url}" + (f": {detail}" if detail else ""))
