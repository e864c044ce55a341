"""A fenced register: a storage service that refuses writers holding an outdated lock token."""

from impl.fenced.state_machine import FencedStateMachine

__all__ = ["FencedStateMachine"]
