"""The lock manager: a replicated lock table with leases, fencing tokens and deadlock detection."""

from impl.lock.state_machine import LockStateMachine
from impl.lock.table import EXCLUSIVE, SHARED, LockTable

__all__ = ["EXCLUSIVE", "SHARED", "LockStateMachine", "LockTable"]
