"""The request and response a route handler sees (impl/runtime/http_server.py parses and writes them).

Plain objects with slots: the node's HTTP layer builds one of each per
request on the leader's hot path, where aiohttp's richer objects (multidict
headers, lazy URL parsing, a body stream) cost more CPU than the Raft work
behind a write. A handler gets the whole body as bytes (the server has read
it, at most ``MAX_BODY_BYTES``, before the handler runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

JSON = "application/json"


class Request:
    """One parsed HTTP request; ``path`` is the target's path, percent-decoded per segment."""

    __slots__ = ("body", "headers", "keep_alive", "match_info", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers if headers is not None else {}  # lower-case names
        self.body = body
        self.match_info: dict[str, str] = {}  # the route's {name} segments, decoded
        self.keep_alive = True  # False: the connection closes after the answer

    @property
    def content_length(self) -> int | None:
        """The declared body length (chunked bodies have none; ``body`` is what arrived)."""
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.isdigit() else None


class Response:
    """Status, body bytes, their media type, and any extra headers (e.g. ``Allow``)."""

    __slots__ = ("body", "charset", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: str = JSON,
        charset: str | None = "utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.charset = charset
        self.headers = headers if headers is not None else {}

    @property
    def content_type_header(self) -> str:
        if self.charset is None:
            return self.content_type
        return f"{self.content_type}; charset={self.charset}"


Handler = Callable[[Request], Awaitable[Response]]
