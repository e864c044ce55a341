"""The WGL engine agrees with a brute-force checker, accepts every simulated atomic history,
rejects planted stale reads, and reports each verdict path."""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.check import linearizable
from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.check.wgl import Outcome, search
from harness.check.wgl_histories import plant_stale_read, read_inversions, simulate_register
from harness.check.wgl_prepare import pair_history, shrink
from harness.check.wgl_refute import refute
from harness.history.ops import Op, OpType
from spec.models import MODELS

# --- an obviously right checker: every subset of crashed ops, every real-time order ---


def brute_force_linearizable(ops: list[Op], model_name: str) -> bool:
    model = MODELS[model_name]
    opened: dict[Any, tuple[int, Op]] = {}
    calls: list[tuple[int, float, Op, Op | None]] = []  # (call_pos, ret_pos, invoke, completion)
    for position, op in enumerate(ops):
        if op.type is OpType.INVOKE:
            opened[op.process] = (position, op)
            continue
        start, invoke = opened.pop(op.process)
        if op.type is OpType.OK:
            calls.append((start, position, invoke, op))
        elif op.type is OpType.INFO:
            calls.append((start, float("inf"), invoke, None))

    def extend(state: Any, left: list[tuple[int, float, Op, Op | None]]) -> bool:
        if all(call[3] is None for call in left):
            return True
        for call in left:
            if any(other[1] < call[0] for other in left if other is not call):
                continue  # some remaining op returned before this one was invoked
            rest = [other for other in left if other is not call]
            after = model.step(state, call[2], call[3])
            if after is not None and extend(after, rest):
                return True
            if call[3] is None and extend(state, rest):
                return True  # the crashed op never happened
        return False

    return extend(model.init(), calls)


F_CHOICES = {
    "cas-register": ["read", "write", "cas"],
    "kv": ["read", "write", "cas"],
    "register": ["read", "write"],
    "queue": ["enqueue", "dequeue"],
    "set": ["add", "read"],
    "mutex": ["acquire", "release"],
    "rwlock": ["acquire", "release"],
}


@st.composite
def small_histories(
    draw: st.DrawFn,
    model_name: str,
    *,
    min_ops: int = 1,
    max_ops: int = 7,
    horizon: int = 12,
    max_duration: int = 6,
    fs: list[str] | None = None,
    values: list[Any] | None = None,
    outcomes: tuple[str, ...] = ("ok", "ok", "ok", "info", "fail"),
) -> list[Op]:
    """``min_ops``..``max_ops`` calls (f from ``fs``, default the model's) starting in
    0..``horizon``, overlapping at random, each ok / info / fail (weighted by repeats in
    ``outcomes``), with values drawn so that both verdicts occur."""
    count = draw(st.integers(min_value=min_ops, max_value=max_ops))
    value_strategy = st.sampled_from(values if values is not None else [None, 1, 2, 3])
    slots: list[tuple[float, int, str, Any, Any]] = []
    for number in range(count):
        f = draw(st.sampled_from(fs if fs is not None else F_CHOICES[model_name]))
        start = draw(st.integers(min_value=0, max_value=horizon))
        end = start + draw(st.integers(min_value=0, max_value=max_duration)) + 0.5
        outcome = draw(st.sampled_from(outcomes))
        invoke_value: Any = draw(value_strategy)
        done_value: Any = invoke_value
        if f == "cas":
            invoke_value = done_value = [draw(value_strategy), draw(value_strategy)]
        elif f in ("read", "dequeue"):
            invoke_value = None
            done_value = draw(value_strategy)
            if model_name == "set":
                done_value = sorted(draw(st.sets(st.sampled_from([1, 2, 3]))))
        elif model_name == "mutex":
            invoke_value = done_value = draw(st.sampled_from(["a", "b"]))
        elif model_name == "rwlock":
            owner = draw(st.sampled_from(["a", "b"]))
            token = draw(st.integers(min_value=1, max_value=3))
            if f == "acquire":
                invoke_value = {
                    "owner": owner,
                    "mode": draw(st.sampled_from(["shared", "exclusive"])),
                }
                done_value = {"token": token}
            else:
                invoke_value = done_value = {"owner": owner, "token": token}
        slots.append((start, number, "invoke", f, invoke_value))
        slots.append((end, number, outcome, f, done_value))
    slots.sort(key=lambda slot: (slot[0], slot[1]))
    return [
        Op(index=i, time=i, process=number, type=OpType(kind), f=f, value=value)
        for i, (_, number, kind, f, value) in enumerate(slots)
    ]


@pytest.mark.parametrize("model_name", sorted(F_CHOICES))
@given(data=st.data())
def test_wgl_verdict_matches_brute_force_on_small_histories(
    model_name: str, data: st.DataObject
) -> None:
    """On histories of at most 7 ops, the pruned WGL search and exhaustive search agree."""
    ops = data.draw(small_histories(model_name))
    expected = brute_force_linearizable(ops, model_name)
    got = check_linearizable(ops, model_name, timeout_s=10).verdict
    assert got is (Verdict.OK if expected else Verdict.ILLEGAL), [op.to_json_dict() for op in ops]


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=1, max_value=12),
    keys=st.integers(min_value=1, max_value=3),
    info=st.sampled_from([0.0, 0.05, 0.3]),
    cas=st.sampled_from([0.0, 0.3]),
)
def test_simulated_atomic_register_histories_are_linearizable(
    seed: int, clients: int, keys: int, info: float, cas: float
) -> None:
    """Each op takes effect at one instant inside its window, so a linearization exists."""
    rng = random.Random(seed)
    ops = simulate_register(
        rng, ops=150, clients=clients, keys=keys, info_fraction=info, cas_fraction=cas
    )
    for model_name in ("cas-register", "kv"):
        result = check_linearizable(ops, model_name, timeout_s=20)
        assert result.verdict is Verdict.OK, (seed, result.reasons)


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=2, max_value=12),
    info=st.sampled_from([0.0, 0.05, 0.3]),
)
def test_planted_stale_read_is_always_illegal(seed: int, clients: int, info: float) -> None:
    """A read returning a value overwritten before it began makes the history illegal."""
    rng = random.Random(seed)
    ops = simulate_register(rng, ops=150, clients=clients, info_fraction=info, cas_fraction=0.2)
    planted = plant_stale_read(rng, ops)
    if planted is None:
        return  # no stale triple in this history; the brute-force test covers small cases
    result = check_linearizable(planted, "kv", timeout_s=20)
    assert result.verdict is Verdict.ILLEGAL, seed
    example = result.counterexamples[0]
    assert example.explanation and example.window and example.stuck


def test_valid_history_has_no_counterexample_and_counts_ops() -> None:
    """Verdict path OK: counts report ops by outcome and the number of partitions."""
    ops = simulate_register(random.Random(1), ops=300, clients=4, keys=3, info_fraction=0.1)
    result = check_linearizable(ops, "kv")
    assert result.verdict is Verdict.OK and not result.counterexamples
    assert result.counts["ops"] == 300 and result.counts["partitions"] == 3
    assert result.counts["ok"] + result.counts["info"] + result.counts["fail"] == 300


def test_stale_read_counterexample_names_the_read_and_the_overwrite() -> None:
    """Verdict path ILLEGAL: the explanation says which value was stale and why."""
    ops = [
        Op(index=0, time=0, process=0, type=OpType.INVOKE, f="write", value=1, key="k"),
        Op(index=1, time=1, process=0, type=OpType.OK, f="write", value=1, key="k"),
        Op(index=2, time=2, process=0, type=OpType.INVOKE, f="write", value=2, key="k"),
        Op(index=3, time=3, process=0, type=OpType.OK, f="write", value=2, key="k"),
        Op(index=4, time=4, process=1, type=OpType.INVOKE, f="read", value=None, key="k"),
        Op(index=5, time=5, process=1, type=OpType.OK, f="read", value=1, key="k"),
    ]
    result = check_linearizable(ops, "kv")
    assert result.verdict is Verdict.ILLEGAL
    example = result.counterexamples[0]
    assert example.key == "k"
    assert [op.index for op, _ in example.linearized] == [0]
    assert example.linearized[0][1] == "value=1"
    assert "stale" in example.explanation and "read k -> 1" in example.explanation
    assert {invoke.index for invoke, _ in example.window} >= {0, 2, 4}


def hard_history() -> list[Op]:
    """Many concurrent crashed enqueues: the queue model cannot prune them."""
    rng = random.Random(3)
    ops: list[Op] = []
    for process in range(40):
        ops.append(Op(index=len(ops), time=len(ops), process=process, type=OpType.INVOKE,
                      f="enqueue", value=process))  # fmt: skip
    for process in range(40):
        ops.append(Op(index=len(ops), time=len(ops), process=process, type=OpType.INFO,
                      f="enqueue", value=process))  # fmt: skip
    ops.append(Op(index=len(ops), time=len(ops), process=99, type=OpType.INVOKE, f="dequeue"))
    ops.append(Op(index=len(ops), time=len(ops), process=99, type=OpType.OK, f="dequeue",
                  value=rng.choice([-1])))  # fmt: skip
    return ops


def test_timeout_gives_unknown_not_a_verdict() -> None:
    """Verdict path UNKNOWN (time): a search out of time says so instead of guessing."""
    result = check_linearizable(hard_history(), "queue", timeout_s=0.2)
    assert result.verdict is Verdict.UNKNOWN
    assert any("timeout after 0.2 s" in reason for reason in result.reasons)


def test_memory_cap_gives_unknown_not_a_verdict() -> None:
    """Verdict path UNKNOWN (memory): the cache estimate stops the search at the cap."""
    result = check_linearizable(hard_history(), "queue", memory_limit_bytes=100_000)
    assert result.verdict is Verdict.UNKNOWN
    assert any("memory cap" in reason for reason in result.reasons)


def test_parallel_partitions_agree_with_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking keys in worker processes gives the same verdicts as in-process."""
    ops = simulate_register(random.Random(5), ops=400, clients=6, keys=4, cas_fraction=0.2)
    planted = plant_stale_read(random.Random(6), ops)
    assert planted is not None
    monkeypatch.setattr(linearizable, "PARALLEL_MIN_OPS", 10)
    for history, expected in ((ops, Verdict.OK), (planted, Verdict.ILLEGAL)):
        result = check_linearizable(history, "kv", workers=2)
        assert result.details["parallel"] is True
        assert result.verdict is expected


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([(0, "ok", "write", 1)], "no open invoke"),
        ([(0, "invoke", "write", 1)], "never complete"),
        ([(0, "invoke", "write", 1), (0, "invoke", "write", 2)], "still open"),
        ([(0, "invoke", "write", 1), (0, "ok", "read", 1)], "does not match"),
        ([(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1)], "not an operation"),
    ],
)
def test_unpaired_ops_raise_a_clear_value_error(rows: list[tuple], message: str) -> None:
    """Odd input is a usage error with a message, never a crash or a verdict."""
    ops = [
        Op(index=i, time=i, process=p, type=OpType(t), f=f, value=v)
        for i, (p, t, f, v) in enumerate(rows)
    ]
    with pytest.raises(ValueError, match=message):
        check_linearizable(ops, "register")


def test_nemesis_ops_are_ignored() -> None:
    """Nemesis events in the history are not client operations."""
    ops = [
        Op(index=0, time=0, process="nemesis", type=OpType.INFO, f="start-partition"),
        Op(index=1, time=1, process=0, type=OpType.INVOKE, f="write", value=1),
        Op(index=2, time=2, process=0, type=OpType.OK, f="write", value=1),
    ]
    assert check_linearizable(ops, "register").verdict is Verdict.OK


# --- every pruning rule against the plain WGL search (STYLE §8a: optimised vs naive) ---


def plain_verdict(ops: list[Op], model_name: str) -> Verdict:
    """The same pipeline with value-based rules off: porcupine's WGL plus info at infinity."""
    model = dataclasses.replace(MODELS[model_name], value_based=False)  # type: ignore[type-var]
    return check_linearizable(ops, model, timeout_s=30).verdict


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=1, max_value=6),
    info=st.sampled_from([0.0, 0.1, 0.3]),
    corrupt=st.booleans(),
    value_range=st.sampled_from([None, None, 2, 5]),
)
def test_pruned_search_agrees_with_plain_wgl(
    seed: int, clients: int, info: float, corrupt: bool, value_range: int | None
) -> None:
    """Dropping/converting crashed ops, value pruning, DEAD states, twin writes and
    refutations keep verdicts, with unique and with repeated write values."""
    rng = random.Random(seed)
    ops = simulate_register(
        rng,
        ops=40,
        clients=clients,
        info_fraction=info,
        cas_fraction=0.3,
        max_latency=6,
        value_range=value_range,
    )
    reads = [n for n, op in enumerate(ops) if op.f == "read" and op.type is OpType.OK]
    if corrupt and reads:  # one read now returns some written value (or None): maybe legal
        written = [None, *(op.value for op in ops if op.f == "write")]
        target = rng.choice(reads)
        ops[target] = dataclasses.replace(ops[target], value=rng.choice(written))
    for model_name in ("kv", "cas-register"):
        fast = check_linearizable(ops, model_name, timeout_s=30).verdict
        assert fast is plain_verdict(ops, model_name), (seed, model_name)


@given(seed=st.integers(min_value=0, max_value=2**32), clients=st.integers(2, 12))
def test_search_alone_finds_planted_stale_reads(seed: int, clients: int) -> None:
    """Without the refutation shortcut the WGL search itself rejects a planted stale read."""
    rng = random.Random(seed)
    ops = simulate_register(rng, ops=120, clients=clients, info_fraction=0.05, cas_fraction=0.2)
    planted = plant_stale_read(rng, ops)
    if planted is None:
        return
    model = MODELS["kv"]
    calls = shrink(model, pair_history(planted).calls)
    assert search(model, calls).outcome is Outcome.ILLEGAL, seed
    assert refute(model, calls) is not None, seed


def test_refutation_names_reader_writer_and_overwrite() -> None:
    """The stale-read proof names the three ops that make the read impossible."""
    rows = [
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (1, "invoke", "write", 2), (1, "ok", "write", 2),
        (2, "invoke", "read", None), (2, "ok", "read", 1),
    ]  # fmt: skip
    ops = [
        Op(index=i, time=i, process=p, type=OpType(t), f=f, value=v)
        for i, (p, t, f, v) in enumerate(rows)
    ]
    model = MODELS["kv"]
    proof = refute(model, shrink(model, pair_history(ops).calls))
    assert proof is not None
    assert proof.reader.invoke.index == 4 and proof.writer.invoke.index == 0  # type: ignore[union-attr]
    assert proof.overwriter.invoke.index == 2  # type: ignore[union-attr]
    assert "stale read" in proof.explanation


def test_easy_history_is_checked_quickly() -> None:
    """10k ops, 5 clients, one key: well under a second (target 220 ms on an idle core)."""
    ops = simulate_register(random.Random(11), ops=10_000, clients=5)
    result = check_linearizable(ops, "kv", timeout_s=30)
    assert result.verdict is Verdict.OK
    assert result.elapsed_s < 5.0  # generous: CI shares two cores with seven other suites


def ops_of(rows: list[tuple[Any, ...]]) -> list[Op]:
    return [
        Op(index=i, time=i, process=p, type=OpType(t), f=f, value=v)
        for i, (p, t, f, v) in enumerate(rows)
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # An unread write that returns before the next write starts must be placed alone
        # (rule c, forced placement), then the later write and its read.
        (
            [(0, "invoke", "write", 5), (0, "ok", "write", 5), (1, "invoke", "write", 6),
             (1, "ok", "write", 6), (2, "invoke", "read", None), (2, "ok", "read", 6)],
            Verdict.OK,
        ),
        # An unread write concurrent with a read of an older value must go after the read.
        (
            [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "write", 2),
             (2, "invoke", "read", None), (2, "ok", "read", 1), (1, "ok", "write", 2)],
            Verdict.OK,
        ),
        # A read from the future: it completed before the only write of its value began.
        (
            [(0, "invoke", "read", None), (0, "ok", "read", 3), (1, "invoke", "write", 3),
             (1, "ok", "write", 3)],
            Verdict.ILLEGAL,
        ),
        # Crashed write read only through a crashed cas whose result was read: both happened.
        (
            [(0, "invoke", "write", 1), (0, "info", "write", 1), (1, "invoke", "cas", [1, 2]),
             (1, "info", "cas", [1, 2]), (2, "invoke", "read", None), (2, "ok", "read", 2)],
            Verdict.OK,
        ),
        # ... but not before the crashed write was even invoked.
        (
            [(1, "invoke", "cas", [1, 2]), (1, "info", "cas", [1, 2]), (2, "invoke", "read", None),
             (2, "ok", "read", 2), (0, "invoke", "write", 1), (0, "info", "write", 1)],
            Verdict.ILLEGAL,
        ),
    ],
)  # fmt: skip
def test_pruning_corner_cases_match_brute_force(
    rows: list[tuple[Any, ...]], expected: Verdict
) -> None:
    """Hand-picked histories for rules (a)-(d), crashed-op conversion and refutations."""
    ops = ops_of(rows)
    assert brute_force_linearizable(ops, "kv") is (expected is Verdict.OK)
    assert check_linearizable(ops, "kv").verdict is expected
    assert check_linearizable(ops, "cas-register").verdict is expected


@given(seed=st.integers(min_value=0, max_value=2**32), clients=st.integers(3, 8))
def test_read_inversions_are_illegal_for_plain_wgl_too(seed: int, clients: int) -> None:
    """The benchmark's inversion plant always yields an illegal history (plain WGL agrees)."""
    rng = random.Random(seed)
    ops = simulate_register(rng, ops=40, clients=clients, max_latency=8, think_max=1)
    for planted in itertools.islice(read_inversions(rng, ops, tries=200), 2):
        assert plain_verdict(planted, "kv") is Verdict.ILLEGAL, seed
        assert check_linearizable(planted, "kv").verdict is Verdict.ILLEGAL, seed
