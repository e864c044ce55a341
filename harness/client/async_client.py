"""An asyncio HTTP client for a Sinkron cluster that classifies every outcome.

Theory of operation: a history checker is only as good as the client's
honesty about what happened. Every call ends in exactly one way:

1. a value (2xx): the operation took effect (or the read saw that value);
2. ``OperationFailed``: it definitely did not take effect, or was definitely
   refused (409 ``cas-mismatch`` with ``current``, 404 ``not-found``, 400);
3. ``OutcomeUnknown``: it may have taken effect (timeout or connection loss
   after the request was sent, 504 ``timeout``, any 5xx other than 503).

Rule 1: a request is retried only when it is certain that no node applied
it: the TCP connection could not be opened (refused, or the connect timed
out), or a node answered 503 ``unavailable``. Each retry goes to the next
node, after a short pause; when the retries are used up the call raises
``Unavailable`` (an ``OperationFailed``).

Rule 2: once bytes may have left, nothing is retried: a timeout or a reset
raises ``OutcomeUnknown`` at once. Re-sending a write that may have been
applied would put two writes in the history where the client made one.

Rule 3: leader discovery is an optimisation, never a correctness need: any
node forwards to the leader (API.md), so a stale guess costs one hop. With
``prefer_leader`` the client asks every node's ``/status`` (at most once per
``rediscover_interval_s``), maps ids to URLs, and sends to the leader first;
after a failure it forgets the leader and asks again. With
``prefer_leader=False`` it always starts at ``urls[0]``, which lets a
harness pin each process to one node.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from harness.client.errors import OperationFailed, OutcomeUnknown, Unavailable
from harness.client.locks import LocksMixin
from harness.client.paths import segment


class _NotSent(Exception):
    """Internal: the request certainly never reached a node (safe to retry)."""


def _decode(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        decoded = jsonlib.loads(raw)
    except ValueError:
        return {"message": raw[:200].decode("utf-8", "replace")}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def _error_code(status: int, body: dict[str, Any]) -> str:
    code = body.get("error")
    return code if isinstance(code, str) and code else f"http-{status}"


class AsyncClient(LocksMixin):
    """Talks to any node of one cluster; see the module docstring for outcome rules.

    Args:
        urls: base URLs of the nodes, e.g. ``["http://127.0.0.1:7001", ...]``.
        timeout_s: total time allowed for one attempt once it is sent.
        connect_timeout_s: time allowed to open the TCP connection (a connect
            that times out was never sent, so it is retried).
        retries: extra attempts after a not-sent failure or a 503.
        retry_delay_s: pause before each retry (doubles each time, capped at 1 s).
        prefer_leader: send to the discovered leader first (see Rule 3).
        rediscover_interval_s: minimum time between two leader discoveries.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        timeout_s: float = 2.0,
        connect_timeout_s: float = 0.5,
        retries: int = 3,
        retry_delay_s: float = 0.05,
        prefer_leader: bool = True,
        rediscover_interval_s: float = 0.5,
    ) -> None:
        if not urls:
            raise ValueError("AsyncClient needs at least one node URL")
        self.urls = [url.rstrip("/") for url in urls]
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.prefer_leader = prefer_leader
        self.rediscover_interval_s = rediscover_interval_s
        self.leader_url: str | None = None
        self.url_by_node_id: dict[str, str] = {}
        self._discovered_at = -1e9
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily so that the session belongs to the loop that uses it.
        if self._session is None or self._session.closed:
            # aiohttp silently re-sends an idempotent request (PUT, DELETE, GET) once when a
            # reused keep-alive connection drops; if that second try is refused, the error
            # says "not connected" although the first try reached the node and may have been
            # applied (a write reported as a definite failure: found by a kill run). Turn the
            # re-send off; where aiohttp has no switch, never reuse connections instead.
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                headers={"content-type": "application/json"},
            )
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            else:  # no switch in this aiohttp: never reuse a connection, so no re-send
                asyncio.get_running_loop().create_task(session.close())
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0, force_close=True),
                    headers={"content-type": "application/json"},
                )
            self._session = session
        return self._session

    # ---- key/value (API.md /kv) -------------------------------------------------

    async def get(self, key: str) -> Any:
        """Return the value of ``key``.

        Raises:
            OperationFailed: ``code == "not-found"`` when the key has no value.
            OutcomeUnknown: the read timed out (a read changes nothing, so a
                harness may record it as ``fail``).
        """
        return (await self.request("GET", f"/kv/{segment(key)}"))["value"]

    async def put(self, key: str, value: Any) -> Any:
        """Write ``value``; returns the stored value.

        Raises:
            OperationFailed: definitely not applied (``unavailable``, 400).
            OutcomeUnknown: may have been applied.
        """
        return (await self.request("PUT", f"/kv/{segment(key)}", {"value": value}))["value"]

    async def cas(self, key: str, expected: Any, value: Any) -> Any:
        """Set ``key`` to ``value`` if it holds ``expected``; returns the new value.

        Raises:
            OperationFailed: ``code == "cas-mismatch"`` with ``body["current"]``
                when the value differed; ``not-found``; ``unavailable``.
            OutcomeUnknown: may have been applied.
        """
        body = {"expected": expected, "value": value}
        return (await self.request("POST", f"/kv/{segment(key)}/cas", body))["value"]

    # ---- node information ---------------------------------------------------------

    async def status(self, url: str | None = None) -> dict[str, Any]:
        """``/status`` of one node (``url``), or of whichever node answers first."""
        return await self.request("GET", "/status", url=url)

    async def health(self, url: str | None = None) -> dict[str, Any]:
        """``/health`` of one node (``url``), or of whichever node answers first."""
        return await self.request("GET", "/health", url=url)

    async def discover_leader(self) -> str | None:
        """Ask every node's /status; remember and return the leader's URL (or None)."""
        self._discovered_at = time.monotonic()
        replies = await asyncio.gather(*(self._status_quietly(url) for url in self.urls))
        leader_id: str | None = None
        self.leader_url = None
        for url, reply in zip(self.urls, replies, strict=True):
            if reply is None:
                continue
            if isinstance(reply.get("id"), str):
                self.url_by_node_id[reply["id"]] = url
            if reply.get("role") == "leader":
                self.leader_url = url
            if leader_id is None and isinstance(reply.get("leader"), str):
                leader_id = reply["leader"]
        if self.leader_url is None and leader_id is not None:
            self.leader_url = self.url_by_node_id.get(leader_id)
        return self.leader_url

    async def _status_quietly(self, url: str) -> dict[str, Any] | None:
        timeout = min(self.timeout_s, 1.0)
        try:
            status, body = await self._send_once(url, "GET", "/status", None, timeout)
        except (_NotSent, OutcomeUnknown):
            return None
        return body if status == 200 else None

    # ---- the one request path -------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        url: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Send one operation with the retry rules of the module docstring.

        Args:
            method, path, json: the HTTP request; ``json`` is the body, if any.
            url: send only to this node (no failover), e.g. to read its /status.
            timeout_s: override the per-attempt timeout.

        Returns:
            The decoded JSON body of a 2xx reply (``{}`` when it had none).

        Raises:
            OperationFailed: definite failure; ``Unavailable`` when no node
                could take the request within the retries.
            OutcomeUnknown: the request may have been applied.
        """
        timeout = self.timeout_s if timeout_s is None else timeout_s
        candidates = [url.rstrip("/")] if url else await self._candidate_urls()
        delay = self.retry_delay_s
        last: OperationFailed | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            target = candidates[attempt % len(candidates)]
            try:
                status, body = await self._send_once(target, method, path, json, timeout)
            except _NotSent as error:
                self.leader_url = None
                last = Unavailable("unavailable", {"message": str(error)}, status=None)
                continue
            if status == 503:
                # API.md: 503 means the node definitely did not apply it.
                self.leader_url = None
                last = Unavailable(_error_code(status, body), body, status=status)
                continue
            return self._classify(target, status, body)
        assert last is not None
        raise last

    def _classify(self, url: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
        if 200 <= status < 300:
            return body
        if status == 504 or status >= 500:
            raise OutcomeUnknown(
                "server-timeout" if status == 504 else f"http-{status}",
                url=url,
                detail=str(body.get("message", "")),
            )
        raise OperationFailed(_error_code(status, body), body, status=status)

    async def _candidate_urls(self) -> list[str]:
        if not self.prefer_leader:
            return list(self.urls)
        stale = time.monotonic() - self._discovered_at >= self.rediscover_interval_s
        if self.leader_url is None and stale:
            await self.discover_leader()
        if self.leader_url is None:
            return list(self.urls)
        return [self.leader_url, *(u for u in self.urls if u != self.leader_url)]

    async def _send_once(
        self, url: str, method: str, path: str, json: Any, timeout_s: float
    ) -> tuple[int, dict[str, Any]]:
        timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=self.connect_timeout_s)
        data = None if json is None else jsonlib.dumps(json)
        try:
            async with self._get_session().request(
                method, url + path, data=data, timeout=timeout
            ) as response:
                return response.status, _decode(await response.read())
        # Order matters: the not-sent cases are subclasses of the unknown ones.
        except aiohttp.ClientConnectorError as error:
            raise _NotSent(f"{url}: {error}") from error
        except aiohttp.ConnectionTimeoutError as error:
            raise _NotSent(f"{url}: connect timed out") from error
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise OutcomeUnknown("timeout", url=url, detail=f"{method} {path}") from error
        except aiohttp.ClientError as error:
            raise OutcomeUnknown("connection-lost", url=url, detail=repr(error)) from error
