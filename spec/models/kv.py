"""The kv service as a model: one cas-register per key, split by ``key``.

Unlike knossos's cas-register, a read of None here means "the key has no
value" (the kv workload records 404 not-found as an ok read of None), so it
is only legal while the key is unwritten. Each key is checked on its own
(P-compositionality: the history is linearizable iff each key's sub-history
is, Herlihy & Wing 1990, Theorem 1).
"""

from __future__ import annotations

from spec.models.register import RegisterModel

KV = RegisterModel(name="kv", allow_cas=True, none_read_is_unknown=False)
