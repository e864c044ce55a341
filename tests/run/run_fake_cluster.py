"""An in-process HTTP 'cluster' that is trivially linearizable: every node serves one shared dict.

It speaks the slice of API.md the kv workload and the runner use (/health,
/status, /kv), and obeys kill (connection refused) and pause (requests hang)
so that the whole ``harness run`` pipeline can be tested without real nodes.
Partitions and clock offsets are recorded but have no effect: one dict has
no replicas to disagree.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from run_fakes import FakeBackend


class FakeHttpCluster(FakeBackend):
    def __init__(self, nodes: int = 3) -> None:
        super().__init__(nodes)
        self.store: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self.runners: dict[str, web.AppRunner] = {}
        self.resumed: dict[str, asyncio.Event] = {}

    def client_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    def _app(self, node: str) -> web.Application:
        async def gate() -> None:
            await self.resumed[node].wait()

        async def health(_request: web.Request) -> web.Response:
            await gate()
            return web.json_response({"ok": True})

        async def status(_request: web.Request) -> web.Response:
            await gate()
            return web.json_response({"id": node, "role": "leader" if node == "n1" else "follower",
                                      "term": 1, "leader": "n1", "commit_index": 0})  # fmt: skip

        async def read(request: web.Request) -> web.Response:
            await gate()
            key = request.match_info["key"]
            if key not in self.store:
                return web.json_response({"error": "not-found", "message": key}, status=404)
            return web.json_response({"value": self.store[key]})

        async def write(request: web.Request) -> web.Response:
            await gate()
            body = await request.json()
            self.store[request.match_info["key"]] = body["value"]
            return web.json_response({"value": body["value"]})

        async def cas(request: web.Request) -> web.Response:
            await gate()
            key, body = request.match_info["key"], await request.json()
            current = self.store.get(key)
            if current != body["expected"]:
                return web.json_response({"error": "cas-mismatch", "current": current}, status=409)
            self.store[key] = body["value"]
            return web.json_response({"value": body["value"]})

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/status", status)
        app.router.add_get("/kv/{key}", read)
        app.router.add_put("/kv/{key}", write)
        app.router.add_post("/kv/{key}/cas", cas)
        return app

    async def _serve(self, node: str) -> None:
        runner = web.AppRunner(self._app(node))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.ports.get(node, 0))
        await site.start()
        self.ports[node] = runner.addresses[0][1]
        self.runners[node] = runner

    async def start(self) -> None:
        await super().start()
        for node in self.node_ids:
            self.resumed[node] = asyncio.Event()
            self.resumed[node].set()
            await self._serve(node)

    async def kill_node(self, node: str) -> None:
        await super().kill_node(node)
        runner = self.runners.pop(node, None)
        if runner is not None:
            await runner.cleanup()

    async def start_node(self, node: str) -> None:
        await super().start_node(node)
        if node not in self.runners:
            await self._serve(node)

    async def pause_node(self, node: str) -> None:
        await super().pause_node(node)
        self.resumed[node].clear()

    async def resume_node(self, node: str) -> None:
        await super().resume_node(node)
        self.resumed[node].set()

    async def collect_logs(self, dest: Path) -> None:
        await super().collect_logs(dest)

    async def close(self) -> None:
        await super().close()
        for node in self.node_ids:
            self.resumed[node].set()
        for runner in list(self.runners.values()):
            await runner.cleanup()
        self.runners.clear()
