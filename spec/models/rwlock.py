"""A readers-writer lock with fencing tokens, one per lock name (``key``).

Op encoding:
    acquire  invoke value {"mode": "shared"|"exclusive", "owner": o}
             completion ok value {"token": t, ...}
    release  invoke value {"owner": o, "token": t}     completion ok

The owner defaults to the op's process when the value names none. The state
is ``(holders, last_token)``: holders is a frozenset of (owner, mode, token).
Rules (the lock manager's contract in DESIGN.md and docs/locks.md):
- exclusive is granted only when no *other* owner holds the lock (the sole
  shared holder may upgrade); shared only when no other owner holds it
  exclusively (an exclusive holder may downgrade);
- a fencing token is strictly greater than every token issued before on this
  lock, except that re-acquiring a mode already held may return the same token;
- a release must name a grant that is held (and its token, when given).
An info acquire has an unknown token, but not an arbitrary one: it was issued
when the grant happened, after every token issued before it and before every
token issued after it. It is placed as a grant whose token is the interval
``("?", lo, hi)`` (``hi`` None until the next token is issued); when the owner
re-acquires the mode and the answer reveals the token, it must fall inside.
It does not raise ``last_token``. (A run caught the case: an acquire whose
outcome was unknown had been granted, and the owner's next acquire of the
same mode returned its token, lower than tokens issued since.)
Lease expiry is not modelled: run lock workloads with TTLs longer than a hold,
or an expired-and-regranted lock shows up as an overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from harness.history.ops import Op
from spec.models.base import PlainModel, State, freeze

Hold = tuple[Any, str, Any]  # (owner, mode, token); token int or ("?", lo, hi | None)


def _field(op: Op | None, name: str) -> Any:
    if op is None or not isinstance(op.value, dict):
        return None
    return freeze(op.value.get(name))


def _owner(invoke: Op) -> Any:
    owner = _field(invoke, "owner")
    return invoke.process if owner is None else owner


@dataclass(frozen=True, slots=True, kw_only=True)
class RwLockModel(PlainModel):
    name: str = "rwlock"

    @property
    def operations(self) -> frozenset[str]:
        return frozenset({"acquire", "release"})

    def init(self) -> State:
        return (frozenset(), 0)

    def step(self, state: State, invoke: Op, completion: Op | None) -> State | None:
        holders, last_token = cast(tuple[frozenset[Hold], int], state)
        owner = _owner(invoke)
        mine = next((hold for hold in holders if hold[0] == owner), None)
        others = frozenset(hold for hold in holders if hold[0] != owner)
        token = _field(completion, "token")
        if invoke.f == "acquire":
            mode = _field(invoke, "mode") or _field(completion, "mode") or "exclusive"
            return _acquire(others, mine, last_token, owner, mode, token)
        if invoke.f == "release":
            wanted = _field(invoke, "token")
            if mine is None or (wanted is not None and not _could_be(mine[2], wanted)):
                return None
            return (others, last_token)
        return None

    def describe_op(self, invoke: Op, completion: Op | None) -> str:
        where = "" if invoke.key is None else f" {invoke.key}"
        if invoke.f == "acquire":
            mode = _field(invoke, "mode") or "exclusive"
            token = "?" if completion is None else _field(completion, "token")
            return f"acquire{where} {mode} by {_owner(invoke)!r} -> token {token}"
        return f"{invoke.f}{where} by {_owner(invoke)!r} token {_field(invoke, 'token')}"

    def describe_state(self, state: State) -> str:
        holders, last_token = cast(tuple[frozenset[Hold], int], state)
        if not holders:
            return f"free (last token {last_token})"
        shown = ", ".join(f"{o!r} {m} #{_token_text(t)}" for o, m, t in sorted(holders, key=repr))
        return f"held by {shown} (last token {last_token})"


def _acquire(
    others: frozenset[Hold], mine: Hold | None, last_token: int, owner: Any, mode: str, token: Any
) -> State | None:
    if mode == "exclusive" and others:
        return None
    if mode == "shared" and any(hold[1] == "exclusive" for hold in others):
        return None
    holds_mode = mine is not None and mine[1] == mode
    if token is None:  # info: a re-acquire keeps its grant; a new grant's token is unknown
        if holds_mode:
            return (others | {mine}, last_token)
        return (others | {(owner, mode, ("?", last_token, None))}, last_token)
    if holds_mode and mine is not None and _could_be(mine[2], token):
        return (others | {(owner, mode, token)}, last_token)  # same grant, token now known
    if not token > last_token:
        return None
    return (_issued(others, token) | {(owner, mode, token)}, token)


def _token_text(token: Any) -> str:
    if not isinstance(token, tuple):
        return str(token)
    _, low, high = token
    return f"?({low}<t{'' if high is None else f'<{high}'})"


def _could_be(held: Any, token: Any) -> bool:
    """Whether the held grant's token (known, or an interval) can be ``token``."""
    if not isinstance(held, tuple):
        return bool(held == token)
    _, low, high = held
    return isinstance(token, int) and low < token and (high is None or token < high)


def _issued(holds: frozenset[Hold], token: int) -> frozenset[Hold]:
    """A new token closes the open intervals: unknown tokens were issued before it."""
    if not any(isinstance(h[2], tuple) and h[2][2] is None for h in holds):
        return holds
    return frozenset(
        (o, m, ("?", t[1], token)) if isinstance(t, tuple) and t[2] is None else (o, m, t)
        for o, m, t in holds
    )


RWLOCK = RwLockModel()
