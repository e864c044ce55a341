"""The physical floor of fsync-per-commit replication at concurrency 1 on this machine.

Question answered: how many writes per second can ANY honest design reach at
concurrency 1 when every write must be durable on a quorum of 3 local
processes before it counts, on this one virtual disk? Sinkron's replication
benchmark (replication.py) compares itself to PySyncObj, which never fsyncs;
if this floor is below PySyncObj's rate, "fsync on >= PySyncObj at c=1" is
out of reach for every implementation that keeps its promise.

Theory of operation: three processes on 127.0.0.1, with no Raft, no asyncio,
no encoding beyond a 12-byte header: the least work a replicated durable
write can take. The leader, for each write:
  1. sends the entry to both followers over TCP (one ``sendall`` each),
  2. commits it to its own database meanwhile (thesis §10.2.1: the leader
     writes in parallel with its followers),
  3. waits for the first follower's acknowledgement (2 of 3 is a quorum),
then starts the next write. A follower reads whatever entries arrived,
commits them in ONE transaction (group commit, so a follower that fell
behind catches up in one fsync) and acknowledges the last one. The three
processes' fsyncs share the one disk, as the real benchmark's do.

Each commit is the durable write Sinkron's storage does (storage.py): one
row INSERT into a SQLite database in WAL mode with ``synchronous=FULL``, so
one WAL append plus one fsync per commit (no checkpoint inside a commit, as
in storage.py, where a thread of its own does them).
``--mode fdatasync`` replaces it by a raw append + ``os.fdatasync`` (the
cheapest durable write there is), ``--mode none`` does no disk write at all
(the bare loopback round trip of this design, for scale).

Run: ``flock /tmp/sinkron-bench.lock python -m harness.bench.fsync_floor``
(all modes, 16 B and 1 KiB) or ``... --mode sqlite --payload 16``.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Protocol

HEADER = struct.Struct(">QI")  # sequence number, payload length
ACK = struct.Struct(">Q")  # highest durable sequence number
MODES = ("sqlite", "fdatasync", "none")


class DurableLog(Protocol):
    def commit(self, entries: list[tuple[int, bytes]]) -> None: ...


class SqliteLog:
    """The write storage.py does: a row per entry, one WAL transaction, synchronous=FULL."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # storage.py checkpoints on another thread, never in a commit; a run this short
        # needs no checkpoint at all.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.execute(
            "CREATE TABLE log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, "
            "kind TEXT NOT NULL, data BLOB NOT NULL, config BLOB)"
        )

    def commit(self, entries: list[tuple[int, bytes]]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany(
            "INSERT INTO log (idx, term, kind, data, config) VALUES (?, 1, 'normal', ?, NULL)",
            entries,
        )
        self._db.execute("COMMIT")


class FdatasyncLog:
    """An append-only file and one fdatasync per commit: the cheapest durable write."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def commit(self, entries: list[tuple[int, bytes]]) -> None:
        os.write(self._fd, b"".join(HEADER.pack(s, len(d)) + d for s, d in entries))
        os.fdatasync(self._fd)


class NoLog:
    def commit(self, entries: list[tuple[int, bytes]]) -> None:
        return None


def open_log(mode: str, path: Path) -> DurableLog:
    if mode == "sqlite":
        return SqliteLog(path)
    if mode == "fdatasync":
        return FdatasyncLog(path)
    return NoLog()


def _nodelay(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def follower(port: int, mode: str, path: Path) -> None:
    """Accept the leader, then: read what arrived, commit it in one transaction, ack the last."""
    durable = open_log(mode, path)
    with socket.create_server(("127.0.0.1", port)) as server:
        print("ready", flush=True)
        conn, _ = server.accept()
    _nodelay(conn)
    buffer = b""
    while True:
        try:
            data = conn.recv(1 << 16)
        except ConnectionResetError:  # the leader stopped with an ack unread
            return
        if not data:
            return
        buffer += data
        entries: list[tuple[int, bytes]] = []
        while len(buffer) >= HEADER.size:
            seq, length = HEADER.unpack_from(buffer)
            end = HEADER.size + length
            if len(buffer) < end:
                break
            entries.append((seq, buffer[HEADER.size : end]))
            buffer = buffer[end:]
        if entries:
            durable.commit(entries)
            try:
                conn.sendall(ACK.pack(entries[-1][0]))
            except (BrokenPipeError, ConnectionResetError):  # the leader is done
                return


def leader(
    ports: list[int], mode: str, path: Path, payload: int, seconds: float
) -> dict[str, float]:
    """Concurrency 1: each write is durable here and on one follower before the next starts."""
    durable = open_log(mode, path)
    links = [socket.create_connection(("127.0.0.1", port)) for port in ports]
    selector = selectors.DefaultSelector()
    acked = {}
    for link in links:
        _nodelay(link)
        selector.register(link, selectors.EVENT_READ)
        acked[link] = 0
    data = b"x" * payload
    latencies: list[float] = []
    seq = 0
    warmup_end = time.perf_counter() + min(1.0, seconds / 4)
    end = warmup_end + seconds
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        seq += 1
        frame = HEADER.pack(seq, payload) + data
        for link in links:
            link.sendall(frame)
        durable.commit([(seq, data)])
        while max(acked.values()) < seq:
            for key, _ in selector.select():
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                reply = ready.recv(1 << 12)
                if not reply:
                    raise RuntimeError("a follower closed its connection")
                (acked[ready],) = ACK.unpack_from(reply, len(reply) - ACK.size)
        if now >= warmup_end:
            latencies.append(time.perf_counter() - now)
    elapsed = time.perf_counter() - warmup_end
    for link in links:
        link.close()
    latencies.sort()
    return {
        "ops_per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
    }


def run_case(mode: str, payload: int, seconds: float) -> dict[str, float | str | int]:
    """Start two follower processes, lead for ``seconds`` (after a warm-up), stop them."""
    from harness.backends.ports import free_ports

    ports = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="sinkron-fsync-floor-") as tmp:
        workdir = Path(tmp)
        followers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "harness.bench.fsync_floor",
                    "--follower",
                    str(port),
                    "--mode",
                    mode,
                    "--path",
                    str(workdir / f"follower{i}.db"),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, port in enumerate(ports)
        ]
        try:
            for process in followers:
                assert process.stdout is not None
                if process.stdout.readline().strip() != "ready":
                    raise RuntimeError("a follower did not start")
            measured = leader(ports, mode, workdir / "leader.db", payload, seconds)
        finally:
            for process in followers:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return {"durable_write": mode, "payload_bytes": payload, **measured}


def run_pysyncobj_c1(payload: int, seconds: float) -> dict[str, float | str | int]:
    """PySyncObj's journal mode at concurrency 1 (replication.py's driver), for comparison."""
    from harness.bench._pysyncobj_driver import run_pysyncobj

    plan = [{"concurrency": 1, "payload_bytes": payload, "seconds": seconds}]
    (row,) = run_pysyncobj(plan, batch=False)
    return {
        "durable_write": "pysyncobj journal (no fsync)",
        "payload_bytes": payload,
        **{k: row[k] for k in ("ops_per_s", "p50_ms", "p99_ms")},
    }


def median_rows(rows: list[dict[str, float | str | int]]) -> list[dict[str, float | str | int]]:
    """One row per (durable_write, payload): the median run by ops/s, with the range."""
    groups: dict[tuple[object, object], list[dict[str, float | str | int]]] = {}
    for row in rows:
        groups.setdefault((row["durable_write"], row["payload_bytes"]), []).append(row)
    out = []
    for runs in groups.values():
        runs.sort(key=lambda r: float(r["ops_per_s"]))
        median = dict(runs[len(runs) // 2])
        median["runs"] = len(runs)
        median["ops_per_s_min"] = runs[0]["ops_per_s"]
        median["ops_per_s_max"] = runs[-1]["ops_per_s"]
        out.append(median)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, action="append")
    parser.add_argument("--payload", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; median shown")
    parser.add_argument(
        "--with-pysyncobj", action="store_true", help="also run PySyncObj (journal, c=1)"
    )
    parser.add_argument("--follower", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.follower is not None:
        follower(args.follower, args.mode[0], args.path)
        return
    from tabulate import tabulate

    rows = []
    for _ in range(args.repeats):  # rounds interleave the systems: the VM's speed drifts
        for payload in args.payload or (16, 1024):
            for mode in args.mode or MODES:
                rows.append(run_case(mode, payload, args.seconds))
            if args.with_pysyncobj:
                rows.append(run_pysyncobj_c1(payload, args.seconds))
    print(tabulate(median_rows(rows), headers="keys", floatfmt=".3g"))


if __name__ == "__main__":
    main()
