"""``harness cluster up|down|add-node|remove-node``: a local cluster to play with, and
membership changes of any running cluster (local, docker compose, ssh hosts).

``up`` starts N nodes with the LocalBackend (relays run inside ``up``), prints
``n1 http://127.0.0.1:7001`` per node as soon as it answers /health, writes
``<data>/cluster.json`` (the pid and command line of ``up`` and of every node)
and waits. SIGTERM or SIGINT (Ctrl-C) stops every node with SIGTERM and exits 0.

``down`` reads ``cluster.json``, SIGTERMs ``up`` (which stops its nodes), then
any node that is still alive, and exits 0, also when nothing was running.
Before signalling a pid it checks that ``/proc/<pid>/cmdline`` still matches
the recorded one, so a reused pid is never hit.

Ports with ``--base-port B``: node k serves HTTP on B+k and peers on B+100+k.

``add-node ID PEER_ADDRESS`` and ``remove-node ID`` are the safe way to grow or
shrink a cluster (docs/containers.md): the /cluster/members routes run only on
the leader, and a promotion waits until the learner has caught up, which can
take longer than a client is willing to wait under load. So these commands
find the leader among ``--urls``, and decide from the membership the leader
reports, not from one answer: a call that timed out may still have taken
effect (retrying it blindly would get "409 already a member"), and a new
leader may have to be found half-way. Exit 0 when the membership is as asked.
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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.backends.base import ClusterSpec

STATE_FILE = "cluster.json"
DEFAULT_DATA_DIR = ".sinkron/cluster"
# node1..node3 of docker-compose.yml (and of `harness cluster up --base-port 7000`).
DEFAULT_URLS = "http://127.0.0.1:7001,http://127.0.0.1:7002,http://127.0.0.1:7003"


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
    add = sub.add_parser(
        "add-node",
        help="add a node (started with SINKRON_JOIN=1) as a learner, then promote it to voter",
    )
    add.add_argument("id", help="the new node's id (its SINKRON_NODE_ID)")
    add.add_argument("peer_address", help="host:port where the other nodes reach its peer port")
    add.add_argument(
        "--learner", action="store_true", help="leave it a learner (no vote); promote later"
    )
    remove = sub.add_parser("remove-node", help="remove a voter or learner from the membership")
    remove.add_argument("id", help="the id of the node to remove")
    for parser_ in (add, remove):
        parser_.add_argument(
            "--urls",
            default=DEFAULT_URLS,
            help=f"comma-separated HTTP URLs of current members (default {DEFAULT_URLS})",
        )
        parser_.add_argument(
            "--timeout", type=float, default=60.0, help="give up after this many seconds (60)"
        )


def main(args: argparse.Namespace) -> int:
    if args.action == "up":
        return asyncio.run(_up(args))
    if args.action == "add-node":
        return _add_node(
            _urls(args.urls), args.id, args.peer_address, not args.learner, args.timeout
        )
    if args.action == "remove-node":
        return _remove_node(_urls(args.urls), args.id, args.timeout)
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


# ---- add-node / remove-node -------------------------------------------------------


def _urls(text: str) -> list[str]:
    return [url.strip().rstrip("/") for url in text.split(",") if url.strip()]


def _call(
    method: str, url: str, body: Any = None, timeout_s: float = 2.0
) -> tuple[int | None, Any]:
    """(HTTP status, decoded JSON body); (None, None) when no answer came in time."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None
    except (OSError, ValueError):  # refused, reset, timed out, not JSON
        return None, None


def _leader_status(urls: list[str]) -> tuple[str, dict[str, Any]] | None:
    """The URL among ``urls`` whose node says it leads, with its /status; None if none does."""
    for url in urls:
        code, status = _call("GET", f"{url}/status")
        if code == 200 and isinstance(status, dict) and status.get("role") == "leader":
            return url, status
    return None


def _add_node(urls: list[str], node: str, address: str, promote: bool, timeout_s: float) -> int:
    wanted = "voter" if promote else "learner"
    deadline = time.monotonic() + timeout_s
    last = "no leader among " + ", ".join(urls)
    while time.monotonic() < deadline:
        found = _leader_status(urls)
        if found is None:
            time.sleep(0.3)
            continue
        leader, status = found
        if node in status.get("members", []):
            _print(f"{node} is a voter (leader {status.get('id')}, members {status['members']})")
            return 0
        if not promote and node in status.get("learners", []):
            _print(f"{node} is a learner (leader {status.get('id')}); promote it with add-node")
            return 0
        # The leader retries a promotion for up to 10 s while the learner catches up.
        code, reply = _call(
            "POST",
            f"{leader}/cluster/members",
            {"id": node, "peer_address": address, "promote": promote},
            timeout_s=max(1.0, min(20.0, deadline - time.monotonic())),
        )
        last = f"POST {leader}/cluster/members -> {code} {reply}"
        if code in (400, 404):
            print(f"add-node {node}: refused: {last}", file=sys.stderr)
            return 2
        # 200 with voter=false (promotion still pending), 409, 503, 504 or no answer:
        # look at the membership again and carry on from there.
        time.sleep(0.2)
    print(f"add-node {node}: not a {wanted} within {timeout_s:g} s; last: {last}", file=sys.stderr)
    return 1


def _remove_node(urls: list[str], node: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    last = "no leader among " + ", ".join(urls)
    while time.monotonic() < deadline:
        found = _leader_status(urls)
        if found is None:
            time.sleep(0.3)
            continue
        leader, status = found
        if node not in status.get("members", []) and node not in status.get("learners", []):
            _print(
                f"{node} is not a member (leader {status.get('id')}, members {status['members']})"
            )
            return 0
        code, reply = _call(
            "DELETE",
            f"{leader}/cluster/members/{node}",
            timeout_s=max(1.0, min(20.0, deadline - time.monotonic())),
        )
        last = f"DELETE {leader}/cluster/members/{node} -> {code} {reply}"
        time.sleep(0.2)
    print(
        f"remove-node {node}: still a member after {timeout_s:g} s; last: {last}", file=sys.stderr
    )
    return 1
