"""The history format: JSON Lines with Jepsen's field names, plus Jepsen EDN import/export.

See docs/history-format.md for the format, the validation rules and the EDN mapping.
"""

from harness.history.edn import op_to_edn
from harness.history.export import write_edn
from harness.history.jsonl import HistoryWriter, write_history
from harness.history.ops import Op, OpType
from harness.history.reader import iter_history, read_history
from harness.history.validate import HistoryError, HistoryValidator

__all__ = [
    "HistoryError",
    "HistoryValidator",
    "HistoryWriter",
    "Op",
    "OpType",
    "iter_history",
    "op_to_edn",
    "read_history",
    "write_edn",
    "write_history",
]
