"""Window rule (a'), twin producers, candidate order with restarts, and the refutation with
repeated values never change a verdict: each is compared with brute force and with plain WGL."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.check import wgl
from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.check.wgl_histories import plant_overwritten_read, simulate_register
from harness.check.wgl_prepare import pair_history, shrink
from harness.check.wgl_refute import refute
from harness.history.ops import Op, OpType
from spec.models import MODELS
from tests.check.test_linearizable import (
    brute_force_linearizable,
    ops_of,
    plain_verdict,
    small_histories,
)


def crowded_histories(model_name: str) -> st.SearchStrategy[list[Op]]:
    """Up to 7 overlapping ops on one register with values 0..2: writes of one value
    compete, cas ops consume values, crashed ops may or may not have happened."""
    return small_histories(
        model_name,
        min_ops=2,
        horizon=5,
        max_duration=8,
        fs=["read", "read", "write", "write", "cas"],
        values=[None, 0, 1, 2],
        outcomes=("ok", "ok", "ok", "ok", "info", "fail"),
    )


@pytest.mark.parametrize("model_name", ["kv", "cas-register"])
@given(data=st.data())
def test_value_rules_match_brute_force_on_crowded_repeated_value_histories(
    model_name: str, data: st.DataObject
) -> None:
    """With few values and heavy overlap the window rule, Hall counting of cas consumers,
    late observers and twin producers all fire; the verdict still equals brute force."""
    ops = data.draw(crowded_histories(model_name))
    expected = brute_force_linearizable(ops, model_name)
    got = check_linearizable(ops, model_name, timeout_s=10).verdict
    assert got is (Verdict.OK if expected else Verdict.ILLEGAL), [op.to_json_dict() for op in ops]


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=2, max_value=8),
    info=st.sampled_from([0.0, 0.1, 0.3]),
    value_range=st.sampled_from([2, 3, 5]),
    corrupt=st.booleans(),
)
def test_restarts_keep_verdicts(
    seed: int, clients: int, info: float, value_range: int, corrupt: bool
) -> None:
    """Restarting every few steps with the other candidate order (keeping the known-dead
    configurations) gives the verdict of the plain search, which never restarts here."""
    rng = random.Random(seed)
    ops = simulate_register(
        rng,
        ops=30,
        clients=clients,
        info_fraction=info,
        cas_fraction=0.3,
        max_latency=6,
        think_max=1,
        value_range=value_range,
    )
    reads = [n for n, op in enumerate(ops) if op.f == "read" and op.type is OpType.OK]
    if corrupt and reads:
        target = rng.choice(reads)
        ops[target] = dataclasses.replace(ops[target], value=rng.randrange(value_range))
    reference = plain_verdict(ops, "kv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wgl, "_BUDGET_CHECK_EVERY", 4)
        patch.setattr(wgl, "_FIRST_ROUND_DEAD_ENDS", 1)
        restarted = check_linearizable(ops, "kv", timeout_s=30).verdict
    assert restarted is reference, seed


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    clients=st.integers(min_value=1, max_value=20),
    info=st.sampled_from([0.0, 0.05, 0.3]),
    value_range=st.sampled_from([2, 5]),
)
def test_refutation_never_rejects_a_simulated_atomic_history(
    seed: int, clients: int, info: float, value_range: int
) -> None:
    """The multi-producer stale/future/initial proofs never fire on a valid history."""
    rng = random.Random(seed)
    ops = simulate_register(
        rng,
        ops=200,
        clients=clients,
        info_fraction=info,
        cas_fraction=0.2,
        think_max=2,
        value_range=value_range,
    )
    model = MODELS["kv"]
    assert refute(model, shrink(model, pair_history(ops).calls)) is None, seed


@given(seed=st.integers(min_value=0, max_value=2**32), clients=st.integers(2, 6))
def test_overwritten_read_is_refuted_and_plain_wgl_agrees(seed: int, clients: int) -> None:
    """The benchmark's repeated-value plant is illegal for plain WGL, and the refutation
    proves it without searching."""
    rng = random.Random(seed)
    ops = simulate_register(
        rng, ops=30, clients=clients, cas_fraction=0.2, max_latency=6, value_range=3
    )
    planted = plant_overwritten_read(rng, ops)
    if planted is None:
        return
    assert plain_verdict(planted, "kv") is Verdict.ILLEGAL, seed
    model = MODELS["kv"]
    assert refute(model, shrink(model, pair_history(planted).calls)) is not None, seed
    assert check_linearizable(planted, "kv").verdict is Verdict.ILLEGAL, seed


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # Two cas ops consume 3 and only one write of 3 can precede them: Hall's condition.
        (
            [(0, "invoke", "write", 3), (0, "ok", "write", 3), (1, "invoke", "cas", [3, 1]),
             (2, "invoke", "cas", [3, 2]), (1, "ok", "cas", [3, 1]), (2, "ok", "cas", [3, 2])],
            Verdict.ILLEGAL,
        ),
        # ... a second, concurrent write of 3 can serve the second cas.
        (
            [(0, "invoke", "write", 3), (0, "ok", "write", 3), (3, "invoke", "write", 3),
             (1, "invoke", "cas", [3, 1]), (2, "invoke", "cas", [3, 2]),
             (1, "ok", "cas", [3, 1]), (2, "ok", "cas", [3, 2]), (3, "ok", "write", 3)],
            Verdict.OK,
        ),
        # The read of 1 must come first and its source moves the state off 3; the later
        # read of 3 then needs a write of 3 after it, and the only one is earlier: late.
        (
            [(0, "invoke", "write", 3), (1, "invoke", "write", 1), (0, "ok", "write", 3),
             (2, "invoke", "read", None), (2, "ok", "read", 1), (1, "ok", "write", 1),
             (3, "invoke", "read", None), (3, "ok", "read", 3)],
            Verdict.ILLEGAL,
        ),
        # ... unless the write of 3 is still running when the read of 1 completes.
        (
            [(0, "invoke", "write", 3), (1, "invoke", "write", 1), (2, "invoke", "read", None),
             (2, "ok", "read", 1), (1, "ok", "write", 1), (3, "invoke", "read", None),
             (3, "ok", "read", 3), (0, "ok", "write", 3)],
            Verdict.OK,
        ),
        # The read of 1 needs the cas [3, 1] after the (read) write of 2: a cas is a source
        # of 1 when something (here the write of 3) can still produce the value it expects.
        (
            [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "write", 2),
             (5, "invoke", "read", None), (2, "invoke", "write", 3), (3, "invoke", "cas", [3, 1]),
             (5, "ok", "read", 2), (1, "ok", "write", 2), (4, "invoke", "read", None),
             (4, "ok", "read", 1), (2, "ok", "write", 3), (3, "ok", "cas", [3, 1])],
            Verdict.OK,
        ),
        # The unread write of 4 must go just before the crashed write of 3 that the cas
        # needs (dead writes are absorbed by crashed writes too, not only by ok ones).
        (
            [(1, "invoke", "write", 3), (1, "info", "write", 3), (0, "invoke", "write", 4),
             (3, "invoke", "cas", [3, 1]), (3, "ok", "cas", [3, 1]), (0, "ok", "write", 4),
             (0, "invoke", "read", None), (0, "ok", "read", 1), (0, "invoke", "write", 3),
             (0, "info", "write", 3)],
            Verdict.OK,
        ),
        # A crashed cas [None, 2] is no source of 2 once nothing can make the value None.
        (
            [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "cas", [None, 2]),
             (1, "info", "cas", [None, 2]), (2, "invoke", "read", None), (2, "ok", "read", 2)],
            Verdict.ILLEGAL,
        ),
        # Two crashed writes of 5 are interchangeable; two separate reads of 5 need both.
        (
            [(0, "invoke", "write", 5), (0, "info", "write", 5), (1, "invoke", "write", 5),
             (1, "info", "write", 5), (2, "invoke", "read", None), (2, "ok", "read", 5),
             (3, "invoke", "write", 6), (3, "ok", "write", 6), (4, "invoke", "read", None),
             (4, "ok", "read", 6), (5, "invoke", "read", None), (5, "ok", "read", 5)],
            Verdict.OK,
        ),
    ],
)  # fmt: skip
def test_value_rule_corner_cases_match_brute_force(
    rows: list[tuple[Any, ...]], expected: Verdict
) -> None:
    """Hand-picked histories for Hall counting, late observers and crashed sources."""
    ops = ops_of(rows)
    assert brute_force_linearizable(ops, "kv") is (expected is Verdict.OK)
    assert check_linearizable(ops, "kv").verdict is expected
    assert plain_verdict(ops, "kv") is expected


def test_dead_writes_placed_by_absorption_do_not_end_the_current_value() -> None:
    """Writes of None nobody reads (cas-register) go just before the write of 1 that absorbs
    them; they must not count as leaving the value 1 before the final read of 1."""
    rows = [
        (0, "invoke", "write", 1), (2, "invoke", "write", None), (3, "invoke", "write", 1),
        (5, "invoke", "write", None), (6, "invoke", "write", None), (7, "invoke", "read", None),
        (2, "ok", "write", None), (3, "ok", "write", 1), (5, "ok", "write", None),
        (6, "ok", "write", None), (7, "ok", "read", None), (1, "invoke", "write", None),
        (0, "ok", "write", 1), (1, "ok", "write", None), (4, "invoke", "read", None),
        (4, "ok", "read", 1),
    ]  # fmt: skip
    ops = ops_of(rows)
    assert brute_force_linearizable(ops, "cas-register")
    assert check_linearizable(ops, "cas-register").verdict is Verdict.OK
