"""The registry of services a node hosts: adding a service is one entry here.

Theory of operation: a service is a replicated ``StateMachine`` (impl/) plus
an HTTP module (impl/runtime/api/<service>.py) that registers routes and may
run a background coroutine (for example periodic log-time ticks for lock
leases). Route handlers talk to the node only through ``ServiceHost``:
``propose`` (a linearizable write through the leader), ``read`` (ReadIndex,
then a local query), ``clock`` and ``wait_state_changed``.

To add a service: write its state machine, write ``api/<name>.py`` with a
``register(routes, host)`` function (and ``OPENAPI_PATHS``), and append one
``ServiceSpec`` to ``SERVICES`` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from impl.fenced import FencedStateMachine
from impl.kv import KvStateMachine
from impl.lock import LockStateMachine
from impl.runtime.api import fenced as fenced_api
from impl.runtime.api import kv as kv_api
from impl.runtime.api import locks as locks_api
from impl.runtime.api import members as members_api
from impl.runtime.members import MembersStateMachine
from impl.statemachine import StateMachine

if TYPE_CHECKING:
    from impl.runtime.clock import Clock
    from impl.runtime.http_router import RouteTable


class ServiceHost(Protocol):
    """What a service's route handlers and background task may use."""

    clock: Clock
    node_id: str

    async def propose(self, service: str, op: dict[str, Any]) -> Any:
        """Commit ``op`` through the leader and return the state machine's result.

        Raises:
            Unavailable: the op certainly did not take effect.
            OutcomeUnknown: it may or may not have taken effect.
        """
        ...

    async def read(self, service: str, query: dict[str, Any]) -> Any:
        """A linearizable query (ReadIndex on the leader, forwarded if needed)."""
        ...

    async def wait_state_changed(self, timeout_s: float) -> bool:
        """Wait until the next batch of entries is applied; False on timeout."""
        ...

    def is_leader(self) -> bool: ...

    def leader_hint(self) -> str | None:
        """The leader this node knows of, or None: what a follower's 503 names."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    name: str
    factory: Callable[[], StateMachine]
    register_routes: Callable[[RouteTable, ServiceHost], None]
    openapi_paths: dict[str, Any] = field(default_factory=dict)
    background: Callable[[ServiceHost], Awaitable[None]] | None = None


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="kv",
        factory=KvStateMachine,
        register_routes=kv_api.register,
        openapi_paths=kv_api.OPENAPI_PATHS,
    ),
    ServiceSpec(
        name="members",
        factory=MembersStateMachine,
        register_routes=members_api.register,
        openapi_paths=members_api.OPENAPI_PATHS,
    ),
    ServiceSpec(
        name="lock",
        factory=LockStateMachine,
        register_routes=locks_api.register,
        openapi_paths=locks_api.OPENAPI_PATHS,
        background=locks_api.tick_leases,
    ),
    ServiceSpec(
        name="fenced",
        factory=FencedStateMachine,
        register_routes=fenced_api.register,
        openapi_paths=fenced_api.OPENAPI_PATHS,
    ),
)
