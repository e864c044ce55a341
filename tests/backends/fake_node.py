"""A stand-in for ``python -m impl.runtime`` that keeps the same env contract.

It serves /health, /status and PUT /_test/clock over HTTP, listens on its
peer port, dials every other node at the address its own SINKRON_PEERS gives,
sends one heartbeat line every 50 ms on that dialed connection only, and
reports in /status how long ago it last heard from each peer. That is enough
to check process control and relay partitions without the real runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

from aiohttp import web

NODE_ID = os.environ["SINKRON_NODE_ID"]
PEERS = {
    item.split("=")[0]: (item.split("=")[1].rsplit(":", 1)[0], int(item.rsplit(":", 1)[1]))
    for item in os.environ["SINKRON_PEERS"].split(",")
}
heard_at: dict[str, float] = {}
clock_offset_ms = 0


async def on_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while line := await reader.readline():
            heard_at[line.decode().strip()] = time.monotonic()
    writer.close()


async def dial_forever(peer: str) -> None:
    host, port = PEERS[peer]
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
            while True:
                writer.write(f"{NODE_ID}\n".encode())
                await writer.drain()
                await asyncio.sleep(0.05)
        except OSError:
            await asyncio.sleep(0.05)


async def status(request: web.Request) -> web.Response:
    now = time.monotonic()
    heard = {peer: round((now - at) * 1000) for peer, at in heard_at.items()}
    return web.json_response(
        {
            "id": NODE_ID,
            "role": "follower",
            "leader": None,
            "heard_ms_ago": heard,
            "clock_offset_ms": clock_offset_ms,
            "pid": os.getpid(),
        }
    )


async def set_clock(request: web.Request) -> web.Response:
    global clock_offset_ms
    if os.environ.get("SINKRON_TEST_HOOKS") != "1":
        return web.json_response({"error": "not-found"}, status=404)
    clock_offset_ms = int((await request.json())["offset_ms"])
    return web.json_response({"offset_ms": clock_offset_ms})


async def main() -> None:
    if os.environ.get("FAKE_NODE_CRASH"):
        print("fake node: crashing on purpose", flush=True)
        raise SystemExit(3)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.start_server(
        on_peer, os.environ["SINKRON_PEER_HOST"], int(os.environ["SINKRON_PEER_PORT"])
    )
    app = web.Application()
    app.router.add_get("/health", lambda request: web.json_response({"ok": True}))
    app.router.add_get("/status", status)
    app.router.add_put("/_test/clock", set_clock)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(
        runner, os.environ["SINKRON_HTTP_HOST"], int(os.environ["SINKRON_HTTP_PORT"])
    ).start()
    print(f"fake node {NODE_ID} up, peers {PEERS}", flush=True)
    tasks = [asyncio.create_task(dial_forever(peer)) for peer in PEERS if peer != NODE_ID]
    await stop.wait()
    print(f"fake node {NODE_ID} stopping on SIGTERM", flush=True)
    for task in tasks:
        task.cancel()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
