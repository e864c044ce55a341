"""What a client request can end in, besides a result, and what each promises.

These two exceptions are the runtime's answer to "did my operation happen?",
and the HTTP layer maps them one to one (docs/http-api.md):

- ``Unavailable`` (HTTP 503): the operation certainly did NOT take effect:
  no leader was known, the leader refused before appending, or the entry it
  was appended as was overwritten by another leader's entry.
- ``OutcomeUnknown`` (HTTP 504): the operation may or may not take effect:
  it was appended (or forwarded) and no result arrived in time. A history
  must record it as ``info``.
"""

from __future__ import annotations


class RequestOutcome(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, leader: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.leader = leader


class Unavailable(RequestOutcome):
    status = 503
    code = "unavailable"


class OutcomeUnknown(RequestOutcome):
    status = 504
    code = "timeout"
