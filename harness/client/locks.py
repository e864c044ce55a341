"""Lock-manager and fenced-register calls of the client (API.md /locks, /fenced).

``AsyncClient`` inherits ``LocksMixin``; every call goes through
``self.request``, so leader discovery, safe retries and the
``OperationFailed`` / ``OutcomeUnknown`` split (harness/client/errors.py)
apply unchanged. The convenient form is the context manager::

    async with client.lock("orders", mode="exclusive", ttl=10) as token:   # AsyncClient
        ...
    with client.lock("orders", mode="exclusive", ttl=10) as token:         # Client, or any thread
        ...

It waits for the grant (up to ``wait`` seconds), keeps the lease alive in the
background (a keepalive every ttl/3), releases on exit, and hands over the
fencing token. A lease can still be lost (a long pause, a partition): then
``hold.lost`` becomes True. The client cannot prevent a paused process from
acting on a lock it no longer holds, which is why writes should carry the
token to a fenced resource (impl/fenced, docs/locks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from harness.client.errors import ClientError, OperationFailed
from harness.client.paths import segment

if TYPE_CHECKING:
    from harness.client.async_client import AsyncClient

T = TypeVar("T")


def new_owner() -> str:
    """A fresh owner name; owners must be unique per lock holder (the table keys grants by owner)."""
    return f"client-{uuid.uuid4().hex[:12]}"


class LocksMixin:
    """Lock and fenced-register calls, built on ``self.request`` (see AsyncClient)."""

    async def acquire_lock(
        self: Any,
        name: str,
        owner: str,
        *,
        mode: str = "exclusive",
        ttl_ms: int = 10_000,
        wait_ms: int = 0,
    ) -> dict[str, Any]:
        """Acquire ``name``: {"token", "mode", "expires_at_ms"}.

        Raises:
            OperationFailed: ``code`` "timeout" (not granted within wait_ms), "deadlock"
                (``body["cycle"]`` names the owners), "bad-request", "unavailable".
            OutcomeUnknown: the acquire may have been granted; a later acquire by the
                same owner returns that grant if it was (reentrancy, docs/locks.md).
        """
        body = {"owner": owner, "mode": mode, "ttl_ms": ttl_ms, "wait_ms": wait_ms}
        timeout_s = self.timeout_s + wait_ms / 1000
        return dict(
            await self.request("POST", f"/locks/{segment(name)}/acquire", body, timeout_s=timeout_s)
        )

    async def release_lock(self: Any, name: str, owner: str, token: int) -> None:
        """Release a grant. Raises OperationFailed("not-held") for a stale token."""
        await self.request(
            "POST", f"/locks/{segment(name)}/release", {"owner": owner, "token": token}
        )

    async def keepalive_lock(self: Any, name: str, owner: str, token: int) -> int:
        """Extend a lease; returns the new expires_at_ms. Raises OperationFailed("not-held")."""
        reply = await self.request(
            "POST", f"/locks/{segment(name)}/keepalive", {"owner": owner, "token": token}
        )
        return int(reply["expires_at_ms"])

    async def lock_state(self: Any, name: str) -> dict[str, Any]:
        """{"holders": [...], "waiters": [...]} (a linearizable read)."""
        return dict(await self.request("GET", f"/locks/{segment(name)}"))

    async def fenced_write(self: Any, key: str, value: Any, token: int) -> None:
        """Write through the fenced register. Raises OperationFailed("fenced") for a stale token."""
        await self.request("PUT", f"/fenced/{segment(key)}", {"value": value, "token": token})

    async def fenced_read(self: Any, key: str, token: int) -> Any:
        """Read with a token (raises the key's fence). Raises OperationFailed("fenced" | "not-found")."""
        reply = await self.request("POST", f"/fenced/{segment(key)}/read", {"token": token})
        return reply["value"]

    async def fenced_get(self: Any, key: str) -> Any:
        """Observe a fenced key without a token. Raises OperationFailed("not-found")."""
        return (await self.request("GET", f"/fenced/{segment(key)}"))["value"]

    def lock(
        self: Any,
        name: str,
        *,
        mode: str = "exclusive",
        ttl: float = 10.0,
        wait: float = 30.0,
        owner: str | None = None,
    ) -> LockHold:
        """A context manager holding ``name`` (seconds for ``ttl`` and ``wait``); yields the token."""
        return LockHold(
            self,
            name,
            mode=mode,
            ttl_ms=max(1, int(ttl * 1000)),
            wait_ms=int(wait * 1000),
            owner=owner,
        )


class LockHold:
    """One hold of a lock: ``async with`` on the client's loop, or ``with`` from any thread.

    Attributes:
        token: the fencing token once acquired.
        lost: True once a keepalive was refused (the lease had run out).
    """

    def __init__(
        self,
        client: AsyncClient,
        name: str,
        *,
        mode: str,
        ttl_ms: int,
        wait_ms: int,
        owner: str | None,
    ) -> None:
        self.client = client
        self.name = name
        self.mode = mode
        self.ttl_ms = ttl_ms
        self.wait_ms = wait_ms
        self.owner = owner or new_owner()
        self.token: int | None = None
        self.lost = False
        self._keepalive: asyncio.Task[None] | None = None
        self._thread_client: AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    # ---- asyncio ------------------------------------------------------------

    async def __aenter__(self) -> int:
        return await self._enter(self.client)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exit(self.client)

    async def _enter(self, client: AsyncClient) -> int:
        grant = await client.acquire_lock(
            self.name, self.owner, mode=self.mode, ttl_ms=self.ttl_ms, wait_ms=self.wait_ms
        )
        self.token = int(grant["token"])
        self._keepalive = asyncio.create_task(self._keep_alive(client, self.token))
        return self.token

    async def _exit(self, client: AsyncClient) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        if self.token is not None and not self.lost:
            with contextlib.suppress(OperationFailed):  # not-held: it expired meanwhile
                await client.release_lock(self.name, self.owner, self.token)

    async def _keep_alive(self, client: AsyncClient, token: int) -> None:
        interval_s = self.ttl_ms / 3000
        while True:
            await asyncio.sleep(interval_s)
            try:
                await client.keepalive_lock(self.name, self.owner, token)
            except OperationFailed as error:
                if error.code == "not-held":
                    self.lost = True
                    return
            except ClientError:
                continue  # outcome unknown: try again on the next round

    # ---- blocking -----------------------------------------------------------

    def __enter__(self) -> int:
        # A private loop in a daemon thread, with its own AsyncClient: the
        # keepalive must run while the caller's thread is busy in the body.
        from harness.client.async_client import AsyncClient

        source = self.client
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="sinkron-lock", daemon=True
        )
        self._loop_thread.start()
        self._thread_client = AsyncClient(
            source.urls,
            timeout_s=source.timeout_s,
            connect_timeout_s=source.connect_timeout_s,
            retries=source.retries,
            retry_delay_s=source.retry_delay_s,
            prefer_leader=source.prefer_leader,
        )
        try:
            return self._run(self._enter(self._thread_client))
        except BaseException:
            self._stop_loop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        assert self._thread_client is not None, "__exit__ without __enter__"
        try:
            self._run(self._exit(self._thread_client))
        finally:
            self._stop_loop()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _stop_loop(self) -> None:
        if self._loop is None:
            return
        if self._thread_client is not None:
            self._run(self._thread_client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
        self._loop.close()
        self._loop = None
