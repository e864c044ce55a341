"""``python -m impl.runtime`` / ``sinkron-node``: run one node until SIGTERM.

Exit codes: 0 after a clean stop (SIGTERM or SIGINT), 1 when the data
directory is damaged or foreign (the message names the file), 2 on invalid
configuration (the message names the setting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from impl.errors import ConfigurationError, StorageError
from impl.runtime.config import Settings, load_settings
from impl.runtime.eventloop import loop_factory
from impl.runtime.gc_tuning import tune_garbage_collector
from impl.runtime.http import build_app
from impl.runtime.http_server import HttpServer
from impl.runtime.node import Node

log = logging.getLogger("sinkron")


async def serve(settings: Settings) -> int:
    node = Node(settings)
    try:
        peer_port = await node.start()
    except StorageError as error:
        log.error("refusing to start: %s", error)
        return 1
    except OSError as error:  # the peer listener: the port is taken or the host is not ours
        log.error(
            "cannot listen for peers on %s:%d: %s", settings.peer_host, settings.peer_port, error
        )
        with contextlib.suppress(Exception):
            await node.stop()
        return 1
    server = HttpServer(build_app(node))
    try:
        http_port = await server.start(settings.http_host, settings.http_port)
    except OSError as error:
        log.error("cannot listen on http %s:%d: %s", settings.http_host, settings.http_port, error)
        await node.stop()
        return 1
    log.info(
        "node %s serving http://%s:%d peers on %s:%d data %s",
        settings.node_id,
        settings.http_host,
        http_port,
        settings.peer_host,
        peer_port,
        settings.data_dir,
    )
    tune_garbage_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping on signal")
    # In-flight client requests get a moment to finish; nothing waits on idle clients.
    await server.close(grace_s=3.0)
    await node.stop()
    log.info("stopped cleanly")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except ConfigurationError as error:
        print(f"sinkron-node: invalid configuration: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s {settings.node_id} %(levelname)s %(name)s: %(message)s",
    )
    if not settings.fsync:
        log.warning(
            "!!! SINKRON_FSYNC=0: writes are NOT fsynced; a crash can lose acknowledged data !!!"
        )
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        return runner.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
