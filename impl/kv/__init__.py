"""The linearizable key-value service: read, write, cas."""

from impl.kv.state_machine import KvStateMachine

__all__ = ["KvStateMachine"]
