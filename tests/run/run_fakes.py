"""In-memory stand-ins for a cluster backend and a kv client, for unit tests of the run machinery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.backends.base import Backend, Link
from harness.client.errors import OperationFailed, OutcomeUnknown


class FakeBackend(Backend):
    """Keeps the fault state a real backend would impose, and a log of every call."""

    def __init__(self, nodes: int = 3) -> None:
        self._nodes = [f"n{number}" for number in range(1, nodes + 1)]
        self.calls: list[tuple[str, Any]] = []
        self.links: set[Link] = set()
        self.killed: set[str] = set()
        self.paused: set[str] = set()
        self.offsets: dict[str, int] = {}

    @property
    def node_ids(self) -> list[str]:
        return list(self._nodes)

    def client_url(self, node: str) -> str:
        return f"http://fake/{node}"

    async def start(self) -> None:
        self.calls.append(("start", None))

    async def start_node(self, node: str) -> None:
        self.calls.append(("start_node", node))
        self.killed.discard(node)

    async def stop_node(self, node: str) -> None:
        self.calls.append(("stop_node", node))
        self.killed.add(node)

    async def kill_node(self, node: str) -> None:
        self.calls.append(("kill_node", node))
        self.killed.add(node)

    async def pause_node(self, node: str) -> None:
        self.calls.append(("pause_node", node))
        self.paused.add(node)

    async def resume_node(self, node: str) -> None:
        self.calls.append(("resume_node", node))
        self.paused.discard(node)

    async def partition(self, links: set[Link]) -> None:
        self.calls.append(("partition", frozenset(links)))
        self.links = set(links)

    async def heal(self) -> None:
        self.calls.append(("heal", None))
        self.links = set()

    async def set_clock_offset(self, node: str, offset_ms: int) -> None:
        self.calls.append(("set_clock_offset", (node, offset_ms)))
        self.offsets[node] = offset_ms

    async def collect_logs(self, dest: Path) -> None:
        for node in self._nodes:
            (dest / f"{node}.log").write_text(f"{node} log\n")

    async def close(self) -> None:
        self.calls.append(("close", None))

    @property
    def healthy(self) -> bool:
        return (
            not self.links
            and not self.killed
            and not self.paused
            and not any(self.offsets.values())
        )


class ScriptedClient:
    """A kv client whose next outcomes are scripted: a value, or an exception to raise."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, Any]] = []

    def _next(self) -> Any:
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def get(self, key: str) -> Any:
        self.calls.append(("get", key))
        return self._next()

    async def put(self, key: str, value: Any) -> Any:
        self.calls.append(("put", (key, value)))
        self._next()
        return value

    async def cas(self, key: str, expected: Any, value: Any) -> Any:
        self.calls.append(("cas", (key, expected, value)))
        self._next()
        return value


def unknown() -> OutcomeUnknown:
    return OutcomeUnknown("timeout", url="http://fake/n1")


def failed(code: str, **body: Any) -> OperationFailed:
    return OperationFailed(code, {"error": code, **body}, status=409)
