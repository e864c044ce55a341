"""One PySyncObj node for the side-by-side replication benchmark (bench env only).

Run as ``python -m harness.bench._pysyncobj_node SELF PARTNER... --plan FILE --out FILE``.
Every node process waits for a leader; the process that is the leader runs
the plan — commands proposed inside the leader process, C outstanding at a
time, the way PySyncObj's own benchmarks measure — and writes the results;
the others wait for the results file, then exit. The journal is PySyncObj's
journal file (an mmap it never fsyncs), so its durability is weaker than ours
with fsync on.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, replicated

from harness.bench._cluster import quantile_ms

# A client slot free for this long means the cluster stopped answering: end the case
# (with a note) rather than wait forever; the driver's budget would kill the whole run.
STALL_S = 5.0


class BenchObject(SyncObj):
    def __init__(self, self_address: str, partners: list[str], conf: SyncObjConf) -> None:
        super().__init__(self_address, partners, conf)
        self.applied = 0

    @replicated
    def apply_payload(self, payload: bytes) -> int:
        self.applied += 1
        return len(payload)


def run_case(
    node: BenchObject, concurrency: int, payload_bytes: int, seconds: float
) -> dict[str, Any]:
    payload = b"x" * payload_bytes
    slots = threading.Semaphore(concurrency)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    measuring = [False]

    def submit() -> None:
        started = time.perf_counter()

        def done(result: Any, error: Any) -> None:
            with lock:
                if error != 0:
                    failures[0] += 1
                elif measuring[0]:
                    latencies.append(time.perf_counter() - started)
            slots.release()

        node.apply_payload(payload, callback=done)

    stalled = False
    warmup_end = time.perf_counter() + min(1.0, seconds / 4)
    while time.perf_counter() < warmup_end:
        if not slots.acquire(timeout=STALL_S):
            stalled = True
            break
        submit()
    measuring[0] = True
    begin, cpu_begin = time.perf_counter(), time.process_time()
    end = begin + seconds
    while not stalled and time.perf_counter() < end:
        if not slots.acquire(timeout=STALL_S):
            stalled = True  # the measurement keeps the stall: it is what the system did
            break
        submit()
    with lock:
        measuring[0] = False
        done_count = len(latencies)
        elapsed = time.perf_counter() - begin
        cpu = time.process_time() - cpu_begin
        snapshot = list(latencies)
    drained_by = time.monotonic() + STALL_S
    for _ in range(concurrency):  # drain, for at most STALL_S in all
        if not slots.acquire(timeout=max(0.0, drained_by - time.monotonic())):
            break
    stall = {"note": f"stalled: no reply for {STALL_S:.0f} s"} if stalled else {}
    return {
        "ops_per_s": done_count / elapsed,
        "p50_ms": quantile_ms(snapshot, 0.50),
        "p99_ms": quantile_ms(snapshot, 0.99),
        "failures": failures[0],
        "leader_cpu_us_per_op": cpu / done_count * 1e6 if done_count else float("nan"),
        **stall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("self_address")
    parser.add_argument("partners", nargs="+")
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--batch", action="store_true", help="appendEntriesUseBatch")
    args = parser.parse_args()
    conf = SyncObjConf(journalFile=str(args.journal), appendEntriesUseBatch=args.batch)
    node = BenchObject(args.self_address, args.partners, conf)
    deadline = time.monotonic() + 30
    while node._getLeader() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if node._isLeader():
        plan = json.loads(args.plan.read_text())
        results = [
            {**case, **run_case(node, case["concurrency"], case["payload_bytes"], case["seconds"])}
            for case in plan
        ]
        args.out.write_text(json.dumps(results))
    else:
        while not args.out.exists() and time.monotonic() < deadline + 600:
            time.sleep(0.2)
    node.destroy()


if __name__ == "__main__":
    main()
