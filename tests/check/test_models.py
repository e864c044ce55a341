"""Textbook histories with known verdicts, one group per sequential model."""

from __future__ import annotations

from typing import Any

import pytest

from harness.check.linearizable import check_linearizable
from harness.check.verdict import Verdict
from harness.history.ops import Op, OpType


def history(*rows: tuple[Any, ...]) -> list[Op]:
    """Rows are (process, type, f, value[, key]) in history order."""
    return [
        Op(
            index=i,
            time=i,
            process=row[0],
            type=OpType(row[1]),
            f=row[2],
            value=row[3],
            key=row[4] if len(row) > 4 else None,
        )
        for i, row in enumerate(rows)
    ]


def verdict(model: str, *rows: tuple[Any, ...]) -> Verdict:
    return check_linearizable(history(*rows), model, timeout_s=10).verdict


def test_register_concurrent_read_may_see_old_or_new_value() -> None:
    """Herlihy & Wing: a read concurrent with a write may return either value."""
    for seen in (1, 2):
        assert (
            verdict(
                "register",
                (0, "invoke", "write", 1),
                (0, "ok", "write", 1),
                (0, "invoke", "write", 2),
                (1, "invoke", "read", None),
                (1, "ok", "read", seen),
                (0, "ok", "write", 2),
            )
            is Verdict.OK
        )


def test_register_read_after_overwrite_is_stale() -> None:
    """A read that starts after write 2 completed cannot return the overwritten 1."""
    assert (
        verdict(
            "register",
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (0, "ok", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 1),
        )
        is Verdict.ILLEGAL
    )


def test_register_reads_cannot_go_back_in_time() -> None:
    """Two sequential reads during one write cannot see new then old (Herlihy & Wing H3)."""
    assert (
        verdict(
            "register",
            (0, "invoke", "write", 1),
            (0, "ok", "write", 1),
            (0, "invoke", "write", 2),
            (1, "invoke", "read", None),
            (1, "ok", "read", 2),
            (2, "invoke", "read", None),
            (2, "ok", "read", 1),
            (0, "ok", "write", 2),
        )
        is Verdict.ILLEGAL
    )


def test_register_read_of_never_written_value_is_illegal() -> None:
    """A value no write produced can never be read."""
    assert verdict(
        "register", (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (1, "invoke", "read", None), (1, "ok", "read", 7),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_info_write_may_have_happened() -> None:
    """A crashed write's value may be read later, even long after the crash."""
    assert verdict(
        "register", (0, "invoke", "write", 1), (0, "info", "write", 1),
        (1, "invoke", "read", None), (1, "ok", "read", 1),
    ) is Verdict.OK  # fmt: skip


def test_info_write_may_not_have_happened() -> None:
    """A crashed write may also have had no effect at all."""
    assert verdict(
        "kv", (0, "invoke", "write", 1), (0, "info", "write", 1),
        (1, "invoke", "read", None), (1, "ok", "read", None),
    ) is Verdict.OK  # fmt: skip


def test_cas_register_failed_cas_did_not_happen() -> None:
    """A cas that completed fail is dropped; a successful cas moves the value."""
    assert verdict(
        "cas-register",
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (0, "invoke", "cas", [5, 6]), (0, "fail", "cas", [5, 6]),
        (0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2]),
        (1, "invoke", "read", None), (1, "ok", "read", 2),
    ) is Verdict.OK  # fmt: skip


def test_cas_register_cas_against_wrong_value_is_illegal() -> None:
    """An ok cas whose expected value was not current cannot be linearized."""
    assert verdict(
        "cas-register",
        (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (0, "invoke", "cas", [3, 4]), (0, "ok", "cas", [3, 4]),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_cas_register_read_of_none_is_unknown() -> None:
    """Knossos semantics: a read returning None says nothing and always passes."""
    assert verdict(
        "cas-register", (0, "invoke", "write", 1), (0, "ok", "write", 1),
        (1, "invoke", "read", None), (1, "ok", "read", None),
    ) is Verdict.OK  # fmt: skip


def test_kv_read_of_missing_key_after_write_is_stale() -> None:
    """kv: None means not-found, which is stale once a write to the key completed."""
    assert verdict(
        "kv", (0, "invoke", "write", 1, "a"), (0, "ok", "write", 1, "a"),
        (1, "invoke", "read", None, "a"), (1, "ok", "read", None, "a"),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_kv_keys_are_independent() -> None:
    """Writes to one key do not change another key's value."""
    assert verdict(
        "kv", (0, "invoke", "write", 1, "a"), (0, "ok", "write", 1, "a"),
        (1, "invoke", "read", None, "b"), (1, "ok", "read", None, "b"),
    ) is Verdict.OK  # fmt: skip


def test_mutex_double_grant_is_illegal() -> None:
    """Two owners cannot both hold the mutex with no release between."""
    assert verdict(
        "mutex", (0, "invoke", "acquire", None), (0, "ok", "acquire", None),
        (1, "invoke", "acquire", None), (1, "ok", "acquire", None),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_mutex_handover_after_release_is_legal() -> None:
    """Acquire, release, acquire by another owner is fine; a crashed release may have freed it."""
    assert verdict(
        "mutex", (0, "invoke", "acquire", None), (0, "ok", "acquire", None),
        (0, "invoke", "release", None), (0, "info", "release", None),
        (1, "invoke", "acquire", None), (1, "ok", "acquire", None),
    ) is Verdict.OK  # fmt: skip


def lock(owner: str, mode: str) -> dict[str, Any]:
    return {"owner": owner, "mode": mode}


def test_rwlock_shared_holders_coexist() -> None:
    """Two shared grants may overlap."""
    assert verdict(
        "rwlock",
        (0, "invoke", "acquire", lock("a", "shared"), "L"), (0, "ok", "acquire", {"token": 1}, "L"),
        (1, "invoke", "acquire", lock("b", "shared"), "L"), (1, "ok", "acquire", {"token": 2}, "L"),
    ) is Verdict.OK  # fmt: skip


def test_rwlock_shared_and_exclusive_overlap_is_illegal() -> None:
    """An exclusive grant while another owner holds shared violates the lock."""
    assert verdict(
        "rwlock",
        (0, "invoke", "acquire", lock("a", "shared"), "L"), (0, "ok", "acquire", {"token": 1}, "L"),
        (1, "invoke", "acquire", lock("b", "exclusive"), "L"),
        (1, "ok", "acquire", {"token": 2}, "L"),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_rwlock_decreasing_fencing_token_is_illegal() -> None:
    """Fencing tokens strictly increase per lock."""
    assert verdict(
        "rwlock",
        (0, "invoke", "acquire", lock("a", "exclusive"), "L"), (0, "ok", "acquire", {"token": 5}, "L"),
        (0, "invoke", "release", {"owner": "a", "token": 5}, "L"), (0, "ok", "release", None, "L"),
        (1, "invoke", "acquire", lock("b", "exclusive"), "L"), (1, "ok", "acquire", {"token": 3}, "L"),
    ) is Verdict.ILLEGAL  # fmt: skip


@pytest.mark.parametrize(("revealed", "expected"), [(4, Verdict.OK), (2, Verdict.ILLEGAL)])
def test_rwlock_token_of_a_crashed_acquire_revealed_later_must_fit_when_it_was_issued(
    revealed: int, expected: Verdict
) -> None:
    """A crashed shared acquire by a, invoked after token 3 was issued, is revealed by a's
    next shared acquire (same grant, same token) after b got 5: 4 fits (a's grant came
    before b's), 2 cannot (it would predate token 3)."""
    assert verdict(
        "rwlock",
        (0, "invoke", "acquire", lock("c", "shared"), "L"), (0, "ok", "acquire", {"token": 3}, "L"),
        (1, "invoke", "acquire", lock("a", "shared"), "L"), (1, "info", "acquire", None, "L"),
        (2, "invoke", "acquire", lock("b", "shared"), "L"), (2, "ok", "acquire", {"token": 5}, "L"),
        (3, "invoke", "acquire", lock("a", "shared"), "L"),
        (3, "ok", "acquire", {"token": revealed}, "L"),
    ) is expected  # fmt: skip


def test_queue_fifo_reorder_is_illegal() -> None:
    """Sequential enqueues of 1 then 2 cannot dequeue 2 first."""
    assert verdict(
        "queue",
        (0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
        (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_queue_concurrent_enqueues_may_dequeue_either_first() -> None:
    """Concurrent enqueues have no order, so either may come out first."""
    assert verdict(
        "queue",
        (0, "invoke", "enqueue", 1), (1, "invoke", "enqueue", 2),
        (0, "ok", "enqueue", 1), (1, "ok", "enqueue", 2),
        (2, "invoke", "dequeue", None), (2, "ok", "dequeue", 2),
    ) is Verdict.OK  # fmt: skip


def test_set_lost_add_is_illegal() -> None:
    """A read after an acknowledged add must contain the element."""
    assert verdict(
        "set", (0, "invoke", "add", 1), (0, "ok", "add", 1),
        (1, "invoke", "read", None), (1, "ok", "read", []),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_set_read_sees_crashed_add_or_not() -> None:
    """A crashed add may or may not be visible."""
    for seen in ([], [1]):
        assert verdict(
            "set", (0, "invoke", "add", 1), (0, "info", "add", 1),
            (1, "invoke", "read", None), (1, "ok", "read", seen),
        ) is Verdict.OK  # fmt: skip


def test_unknown_model_name_is_rejected() -> None:
    """A typo in --model is a usage error, not a verdict."""
    with pytest.raises(ValueError, match="unknown model"):
        check_linearizable([], "regsiter")


def test_mutex_release_by_a_non_owner_is_illegal() -> None:
    """The mutex has an owner: only the holder's release frees it."""
    assert verdict(
        "mutex", (0, "invoke", "acquire", "a"), (0, "ok", "acquire", "a"),
        (1, "invoke", "release", "b"), (1, "ok", "release", "b"),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_rwlock_two_exclusive_holders_is_illegal() -> None:
    """Exclusive holds exclude each other."""
    assert verdict(
        "rwlock",
        (0, "invoke", "acquire", lock("a", "exclusive"), "L"), (0, "ok", "acquire", {"token": 1}, "L"),
        (1, "invoke", "acquire", lock("b", "exclusive"), "L"), (1, "ok", "acquire", {"token": 2}, "L"),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_queue_empty_dequeue_after_acknowledged_enqueue_is_illegal() -> None:
    """An enqueue that completed before the dequeue began must be seen (nothing else removed it)."""
    assert verdict(
        "queue", (0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", None),
    ) is Verdict.ILLEGAL  # fmt: skip


def test_set_read_cannot_unsee_an_element() -> None:
    """Once a read has seen 1, a later read without 1 is illegal (a grow-only set)."""
    assert verdict(
        "set", (0, "invoke", "add", 1), (0, "info", "add", 1),
        (1, "invoke", "read", None), (1, "ok", "read", [1]),
        (2, "invoke", "read", None), (2, "ok", "read", []),
    ) is Verdict.ILLEGAL  # fmt: skip


# Knossos test-data shapes (data/cas-register/bad/*.edn), rewritten with other processes and
# values: a top-level vector or list, no :index/:time, comments, a missing comma, read invokes
# carrying a value, and invokes that never complete (Knossos's crashed ops).
KNOSSOS_SHAPES = {
    "concurrent_write_read_of_a_third_value": (
        "(;; value is 5, then write 6 runs while a read returns 7\n"
        " {:type :invoke, :f :write, :value 5, :process 10}\n"
        " {:type :ok, :f :write, :value 5, :process 10}\n"
        " {:type :invoke, :f :read, :value nil, :process 11}\n"
        " {:type :invoke, :f :write, :value 6, :process 12}\n"
        " {:type :ok, :f :read, :value 7, :process 11}\n"
        " {:type :ok, :f :write, :value 6, :process 12}\n"
        " {:type :invoke, :f :read, :value nil, :process 13}\n"
        " {:type :ok, :f :read, :value 6, :process 13})\n",
        Verdict.ILLEGAL,
    ),
    "failed_write_then_read_of_its_value": (
        "[{:type :invoke, :process 2, :f :read, :value nil}\n"
        "{:type :invoke, :process 102, :f :write, :value 4}\n"
        "{:type :fail, :process 102, :f :write, :value 4, :error [:unavailable nil]}\n"
        "{:type :ok, :process 2, :f :read, :value 4}]\n",
        Verdict.ILLEGAL,
    ),
    "crashed_ops_and_two_spurious_reads": (
        "[{:process 5, :type :invoke, :f :write, :value 1}\n"
        " {:process 5, :type :ok, :f :write, :value 1}\n"
        " {:process 7, :type :invoke, :f :read, :value nil}\n"  # never completes
        " {:process 8, :type :invoke, :f :write, :value 0}\n"
        " {:process 8, :type :ok, :f :write, :value 0}\n"
        " {:process 9, :type :invoke, :f :write, :value 2}\n"  # never completes
        " {:process 30  :type :invoke, :f :read, :value 3}\n"
        " {:process 31, :type :invoke, :f :read, :value 2}\n"
        " {:process 31, :type :ok, :f :read, :value 2}\n"
        " {:process 30, :type :ok, :f :read, :value 3}]\n",
        Verdict.ILLEGAL,
    ),
    "crashed_write_explains_a_later_read": (
        "[{:process 5, :type :invoke, :f :write, :value 1}\n"
        " {:process 5, :type :ok, :f :write, :value 1}\n"
        " {:process 9, :type :invoke, :f :write, :value 2}\n"  # never completes
        " {:process 31, :type :invoke, :f :read, :value nil}\n"
        " {:process 31, :type :ok, :f :read, :value 2}\n"
        " {:process 32, :type :invoke, :f :cas, :value [2 3]}\n"
        " {:process 32, :type :ok, :f :cas, :value [2 3]}\n"
        " {:process 33, :type :invoke, :f :cas, :value [2 4]}\n"
        " {:process 33, :type :fail, :f :cas, :value [2 4]}]\n",
        Verdict.OK,
    ),
}


@pytest.mark.parametrize("case", sorted(KNOSSOS_SHAPES))
def test_knossos_shaped_cas_register_histories_get_knossos_verdicts(case: str) -> None:
    """Read as Knossos writes them (open invokes closed as info, as `harness check` does)."""
    import io

    from harness.history import read_history
    from harness.history.unfinished import close_open_invokes

    text, expected = KNOSSOS_SHAPES[case]
    ops = close_open_invokes(read_history(io.StringIO(text)))
    result = check_linearizable(ops, "cas-register", timeout_s=10)
    assert result.verdict is expected, result.reasons
    if expected is Verdict.ILLEGAL:
        assert result.counterexamples[0].window
