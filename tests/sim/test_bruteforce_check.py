"""The fallback brute-force checker agrees with the real WGL checker and never guesses."""

from __future__ import annotations

from harness.check.linearizable import check_linearizable as real_check
from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType
from harness.sim.bruteforce_check import check_linearizable as bruteforce_check
from harness.sim.simulator import run_seed


def op(index: int, process: int, kind: OpType, f: str, value: object, key: str = "k") -> Op:
    return Op(index=index, time=index, process=process, type=kind, f=f, value=value, key=key)


STALE_READ = [
    op(0, 1, OpType.INVOKE, "write", 1),
    op(1, 1, OpType.OK, "write", 1),
    op(2, 2, OpType.INVOKE, "write", 2),
    op(3, 2, OpType.OK, "write", 2),
    op(4, 3, OpType.INVOKE, "read", None),
    op(5, 3, OpType.OK, "read", 1),
]

INFO_WRITE_MAY_HAVE_HAPPENED = [
    op(0, 1, OpType.INVOKE, "write", 1),
    op(1, 1, OpType.INFO, "write", 1),
    op(2, 2, OpType.INVOKE, "read", None),
    op(3, 2, OpType.OK, "read", 1),
    op(4, 3, OpType.INVOKE, "cas", [1, 2]),
    op(5, 3, OpType.OK, "cas", [1, 2]),
    op(6, 4, OpType.INVOKE, "read", None),
    op(7, 4, OpType.OK, "read", 2),
]


def test_bruteforce_rejects_a_stale_read_like_the_real_checker() -> None:
    """A read that returns an overwritten value after the overwrite completed is not linearizable."""
    assert bruteforce_check(STALE_READ).verdict is Verdict.ILLEGAL
    assert real_check(STALE_READ, "kv").verdict is Verdict.ILLEGAL


def test_bruteforce_lets_an_info_op_take_effect() -> None:
    """An info op may have happened: a later read of its value is fine."""
    assert bruteforce_check(INFO_WRITE_MAY_HAVE_HAPPENED).verdict is Verdict.OK
    assert real_check(INFO_WRITE_MAY_HAVE_HAPPENED, "kv").verdict is Verdict.OK


def test_bruteforce_agrees_with_the_real_checker_on_simulator_histories() -> None:
    """Second opinion: both checkers give the same verdict on real simulated histories."""
    for seed in (2, 3):
        history = run_seed(seed, nodes=3, ticks=150, out=lambda _line: None).history
        assert real_check(history, "kv").verdict is Verdict.OK
        assert bruteforce_check(history).verdict is Verdict.OK
