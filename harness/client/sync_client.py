"""A blocking wrapper around ``AsyncClient`` for people, scripts and notebooks.

It runs a private event loop in a daemon thread and hands each call to it,
so the outcome rules (``OperationFailed`` / ``OutcomeUnknown``) are exactly
those of ``AsyncClient``: there is one implementation of them, not two.
Coroutine methods that appear on ``AsyncClient`` later (for example the lock
calls of ``harness/client/locks.py``) are wrapped automatically.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from harness.client.async_client import AsyncClient

T = TypeVar("T")


class Client:
    """Blocking client: ``Client(urls).put("k", 1)``; same arguments as ``AsyncClient``."""

    def __init__(self, urls: Sequence[str], **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sinkron-client", daemon=True
        )
        self._thread.start()
        self._async = AsyncClient(urls, **options)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session and stop the private loop (idempotent)."""
        if not self._loop.is_running():
            return
        self._run(self._async.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def get(self, key: str) -> Any:
        return self._run(self._async.get(key))

    def put(self, key: str, value: Any) -> Any:
        return self._run(self._async.put(key, value))

    def cas(self, key: str, expected: Any, value: Any) -> Any:
        return self._run(self._async.cas(key, expected, value))

    def status(self, url: str | None = None) -> dict[str, Any]:
        return self._run(self._async.status(url))

    def health(self, url: str | None = None) -> dict[str, Any]:
        return self._run(self._async.health(url))

    def request(self, method: str, path: str, json: Any = None, **options: Any) -> dict[str, Any]:
        return self._run(self._async.request(method, path, json, **options))

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not defined above, e.g. future lock calls.
        attribute = getattr(self._async, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._run(attribute(*args, **kwargs))

        return blocking
