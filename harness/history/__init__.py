"""The history format: JSON Lines with Jepsen's field names, plus Jepsen EDN import/export."""

from harness.history.ops import Op, OpType

__all__ = ["Op", "OpType"]
