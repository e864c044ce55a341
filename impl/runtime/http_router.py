"""Route registration and matching for the node's HTTP API.

Patterns are paths whose segments are literals or ``{name}`` (a non-empty
segment, captured percent-decoded, so ``/kv/a%2Fb`` is the key ``a/b``, as
aiohttp's router decoded it). ``resolve`` answers a handler, or the methods
the path allows (a 405 with ``Allow``), or nothing (a 404). ``HEAD`` is
served by a path's ``GET`` handler (the server leaves the body out).

A few dozen routes at most: patterns are grouped by segment count and first
segment, so a request compares itself with the handful that could match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple
from urllib.parse import unquote

from impl.runtime.http_message import Handler


class Route(NamedTuple):
    method: str
    path: str
    handler: Handler


class RouteTable:
    """What a service module registers its handlers into (``@routes.get("/kv/{key}")``)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        if not path.startswith("/"):
            raise ValueError(f"route path {path!r} must start with '/'")

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler))
            return handler

        return register

    def get(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("GET", path)

    def put(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("PUT", path)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("POST", path)

    def delete(self, path: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path)

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)


class _Pattern:
    __slots__ = ("handlers", "names", "path", "segments")

    def __init__(self, path: str) -> None:
        self.path = path
        parts = path.split("/")
        self.segments: tuple[str | None, ...] = tuple(
            None if part.startswith("{") and part.endswith("}") else part for part in parts
        )
        self.names = tuple(part[1:-1] for part in parts if part.startswith("{"))
        self.handlers: dict[str, Handler] = {}

    def match(self, segments: list[str]) -> dict[str, str] | None:
        captured: dict[str, str] = {}
        names = iter(self.names)
        for want, got in zip(self.segments, segments, strict=True):
            if want is None:
                if not got:
                    return None
                captured[next(names)] = got
            elif want != got:
                return None
        return captured


class Resolved(NamedTuple):
    handler: Handler | None
    route: str  # the pattern that matched ("" when none did)
    match_info: dict[str, str]
    allowed: frozenset[str]  # for a 405: the methods the path has


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._patterns: dict[tuple[int, str], list[_Pattern]] = {}
        by_path: dict[str, _Pattern] = {}
        for route in routes:
            pattern = by_path.get(route.path)
            if pattern is None:
                pattern = by_path[route.path] = _Pattern(route.path)
                first = pattern.segments[1] if len(pattern.segments) > 1 else ""
                if first is None:
                    raise ValueError(f"route {route.path!r}: the first segment must be literal")
                self._patterns.setdefault((len(pattern.segments), first), []).append(pattern)
            if route.method in pattern.handlers:
                raise ValueError(f"route {route.method} {route.path} registered twice")
            pattern.handlers[route.method] = route.handler

    def resolve(self, method: str, path: str) -> Resolved:
        """The handler for ``method`` on ``path`` (a raw, still percent-encoded path)."""
        segments = path.split("/")
        if "%" in path:
            segments = [unquote(segment) if "%" in segment else segment for segment in segments]
        if len(segments) < 2 or segments[0]:
            return Resolved(None, "", {}, frozenset())
        candidates = self._patterns.get((len(segments), segments[1]), ())
        lookup = "GET" if method == "HEAD" else method
        allowed: set[str] = set()
        for pattern in candidates:
            captured = pattern.match(segments)
            if captured is None:
                continue
            handler = pattern.handlers.get(lookup)
            if handler is not None:
                return Resolved(handler, pattern.path, captured, frozenset())
            allowed.update(pattern.handlers)
            if "GET" in pattern.handlers:
                allowed.add("HEAD")
        return Resolved(None, "", {}, frozenset(allowed))
