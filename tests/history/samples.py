"""Histories used by several tests: small, hand-written, each with a known verdict."""

from __future__ import annotations

import dataclasses

from harness.history.ops import Op, OpType

# A Knossos-style cas-register history as Knossos's test data writes it: one
# top-level vector, no :index, no :time, keywords everywhere, commas.
KNOSSOS_CAS_REGISTER_EDN = """\
[{:process 0, :type :invoke, :f :write, :value 3}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :write, :value 3}
 {:process 1, :type :ok, :f :read, :value 3}
 {:process 2, :type :invoke, :f :cas, :value [3 4]}
 {:process 2, :type :fail, :f :cas, :value [3 4]}
 {:process 0, :type :invoke, :f :cas, :value [3 1]}
 {:process 0, :type :info, :f :cas, :value [3 1]}
 {:process 3, :type :invoke, :f :read, :value nil}
 {:process 3, :type :ok, :f :read, :value 1}]
"""

# Lines as Jepsen 0.3's history.edn writes them: tagged ops, :index and :time,
# nemesis info ops, independent [key value] tuples, a set value.
JEPSEN_HISTORY_EDN = """\
#jepsen.history.Op{:index 0, :time 1203040, :type :invoke, :process 0, :f :write, :value [:k1 4]}
#jepsen.history.Op{:index 1, :time 1398111, :type :ok, :process 0, :f :write, :value [:k1 4]}
#jepsen.history.Op{:index 2, :time 2000000, :type :info, :process :nemesis, :f :start-partition, :value :majority}
#jepsen.history.Op{:index 3, :time 2100000, :type :info, :process :nemesis, :f :start-partition, :value [:isolated {"n1" #{"n2" "n3"}}]}
#jepsen.history.Op{:index 4, :time 2200000, :type :invoke, :process 1, :f :read, :value [:k1 nil]}
#jepsen.history.Op{:index 5, :time 2300000, :type :ok, :process 1, :f :read, :value [:k1 4], :error nil}
#jepsen.history.Op{:index 6, :time 9000000, :type :info, :process :nemesis, :f :stop-partition, :value nil}
"""


def op(
    index: int, process: int | str, type_: str, f: str, value: object = None, *, time: int = -1
) -> Op:
    """Shorthand for a history line; time defaults to index * 1 ms."""
    return Op(
        index=index,
        time=index * 1_000_000 if time < 0 else time,
        process=process,
        type=OpType(type_),
        f=f,
        value=value,
    )


def register_history(read_value: int, *, key: str | None = None) -> list[Op]:
    """write 1 completes, then a read returns ``read_value``: valid iff it is 1."""
    ops = [
        op(0, 0, "invoke", "write", 1),
        op(1, 0, "ok", "write", 1),
        op(2, 1, "invoke", "read", None),
        op(3, 1, "ok", "read", read_value),
    ]
    return ops if key is None else [dataclasses.replace(o, key=key) for o in ops]
