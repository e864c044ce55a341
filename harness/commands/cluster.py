"""``harness cluster up|down``: a local cluster to play with, in the foreground.

``up`` starts N nodes with the LocalBackend (relays run inside ``up``), prints
``n1 http://127.0.0.1:7001`` per node as soon as it answers /health, writes
``<data>/cluster.json`` (the pid and command line of ``up`` and of every node)
and waits. SIGTERM or SIGINT (Ctrl-C) stops every node with SIGTERM and exits 0.

``down`` reads ``cluster.json``, SIGTERMs ``up`` (which stops its nodes), then
any node that is still alive, and exits 0, also when nothing was running.
Before signalling a pid it checks that ``/proc/<pid>/cmdline`` still matches
the recorded one, so a reused pid is never hit.

Ports with ``--base-port B``: node k serves HTTP on B+k and peers on B+100+k.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from harness.backends.base import ClusterSpec

STATE_FILE = "cluster.json"
DEFAULT_DATA_DIR = ".sinkron/cluster"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = sub.add_parser("up", help="start a local cluster in the foreground")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument(
        "--base-port",
        type=int,
        default=7000,
        help="node k gets HTTP port BASE+k and peer port BASE+100+k; 0 = free ports (default 7000)",
    )
    up.add_argument(
        "--data", default=DEFAULT_DATA_DIR, help=f"data dir (default {DEFAULT_DATA_DIR})"
    )
    up.add_argument("--secret", default="sinkron-dev-secret", help="cluster secret for peer auth")
    up.add_argument("--cluster-id", default="sinkron-dev", help="cluster id stored in the data")
    up.add_argument(
        "--net", choices=("relay", "netns"), default="relay", help="link layer (netns: root only)"
    )
    up.add_argument("--tick-ms", type=int, default=None, help="SINKRON_TICK_MS for every node")
    up.add_argument(
        "--no-test-hooks", action="store_true", help="start nodes without SINKRON_TEST_HOOKS=1"
    )
    up.add_argument(
        "--node-command",
        default=None,
        help="command that runs one node, configured by SINKRON_* env (default: python -m impl.runtime)",
    )
    down = sub.add_parser("down", help="stop the cluster that `up` started")
    down.add_argument(
        "--data", default=DEFAULT_DATA_DIR, help=f"data dir (default {DEFAULT_DATA_DIR})"
    )


def main(args: argparse.Namespace) -> int:
    if args.action == "up":
        return asyncio.run(_up(args))
    return _down(Path(args.data))


# ---- process identity -------------------------------------------------------------


def _cmdline(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None


def _same_process_alive(pid: int, cmdline: str | None) -> bool:
    """True if ``pid`` runs and is not a zombie, and (if known) still has ``cmdline``."""
    current = _cmdline(pid)
    if current is None or (cmdline is not None and current != cmdline):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_gone(pid: int, cmdline: str | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _same_process_alive(pid, cmdline):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---- up ---------------------------------------------------------------------------


def _write_state(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.replace(path)


def _print(line: str = "") -> None:
    print(line, flush=True)


async def _up(args: argparse.Namespace) -> int:
    from harness.backends.local import DEFAULT_NODE_COMMAND, BackendError, LocalBackend

    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    state_path = data / STATE_FILE
    if state_path.exists():
        old = json.loads(state_path.read_text() or "{}")
        if _same_process_alive(int(old.get("up_pid", 0)), old.get("up_cmdline")):
            print(
                f"a cluster is already running from {data} (pid {old['up_pid']});"
                f" run `harness cluster down --data {args.data}` first",
                file=sys.stderr,
            )
            return 2
    spec = ClusterSpec(
        nodes=args.nodes,
        run_dir=data,
        cluster_secret=args.secret,
        cluster_id=args.cluster_id,
        test_hooks=not args.no_test_hooks,
        base_port=args.base_port,
    )
    backend = LocalBackend(
        spec,
        net=args.net,
        tick_ms=args.tick_ms,
        node_command=shlex.split(args.node_command) if args.node_command else DEFAULT_NODE_COMMAND,
        on_node_healthy=lambda node: _print(f"{node} {backend.client_url(node)}"),
    )
    state: dict[str, Any] = {
        "up_pid": os.getpid(),
        "up_cmdline": _cmdline(os.getpid()),
        "data": str(data),
        "nodes": {},
    }
    _write_state(state_path, state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        starting = asyncio.create_task(backend.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        stopping.cancel()
        starting.result()
        state["nodes"] = {
            node: {
                "pid": backend.nodes[node].pid,
                "cmdline": _cmdline(backend.nodes[node].pid or 0),
                "url": backend.client_url(node),
                "log": str(backend.nodes[node].log_path),
            }
            for node in backend.node_ids
        }
        _write_state(state_path, state)
        _print_usage(backend.client_url(backend.node_ids[0]), args.data)
        await _watch(backend, stop)
        _print("stopping: SIGTERM to every node")
        return 0
    except (BackendError, OSError) as error:
        print(f"harness cluster up: {error}", file=sys.stderr)
        return 2
    finally:
        await backend.close()
        with contextlib.suppress(FileNotFoundError):
            state_path.unlink()


def _print_usage(url: str, data: str) -> None:
    _print()
    _print("try:")
    _print(f"  curl -s {url}/status")
    _print(
        f"  curl -s -X PUT {url}/kv/greeting -H 'content-type: application/json' -d '{{\"value\": \"hi\"}}'"
    )
    _print(f"  curl -s {url}/kv/greeting")
    _print(
        f"  curl -s -X POST {url}/kv/greeting/cas -H 'content-type: application/json'"
        ' -d \'{"expected": "hi", "value": "bye"}\''
    )
    _print(f"stop with Ctrl-C, or: harness cluster down --data {data}")


async def _watch(backend: Any, stop: asyncio.Event) -> None:
    """Wait for SIGTERM/SIGINT; say so (once) when a node exits on its own."""
    reported: set[str] = set()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        for node, local in backend.nodes.items():
            if not local.running and node not in reported:
                reported.add(node)
                code = local.process.returncode if local.process else None
                print(f"{node} exited (code {code}); log: {local.log_path}", file=sys.stderr)


# ---- down -------------------------------------------------------------------------


def _down(data: Path) -> int:
    state_path = data / STATE_FILE
    if not state_path.exists():
        _print(f"no cluster state in {data}; nothing is running")
        return 0
    try:
        state = json.loads(state_path.read_text())
    except ValueError:
        _print(f"{state_path} is unreadable; removing it")
        state_path.unlink()
        return 0
    up_pid, up_cmdline = int(state.get("up_pid", 0)), state.get("up_cmdline")
    if up_pid and _same_process_alive(up_pid, up_cmdline):
        os.kill(up_pid, signal.SIGTERM)
        if _wait_gone(up_pid, up_cmdline, timeout_s=20):
            _print(f"stopped `harness cluster up` (pid {up_pid})")
        else:
            os.kill(up_pid, signal.SIGKILL)
            _print(f"`harness cluster up` (pid {up_pid}) did not stop in 20 s; killed it")
    else:
        _print("`harness cluster up` is not running")
    for node, info in sorted(state.get("nodes", {}).items()):
        pid, cmdline = int(info.get("pid") or 0), info.get("cmdline")
        if not pid or not _same_process_alive(pid, cmdline):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            os.killpg(pid, signal.SIGCONT)
        if not _wait_gone(pid, cmdline, timeout_s=5):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        _print(f"stopped {node} (pid {pid})")
    with contextlib.suppress(FileNotFoundError):
        state_path.unlink()
    return 0
