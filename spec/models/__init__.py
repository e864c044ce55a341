"""Sequential models for the linearizability checker, by name (``--model``)."""

from __future__ import annotations

from spec.models.base import NO_VALUE, Model, freeze
from spec.models.cas_register import CAS_REGISTER
from spec.models.kv import KV
from spec.models.mutex import MUTEX
from spec.models.queue import QUEUE
from spec.models.register import REGISTER
from spec.models.rwlock import RWLOCK
from spec.models.set import SET

MODELS: dict[str, Model] = {
    model.name: model for model in (REGISTER, CAS_REGISTER, KV, MUTEX, RWLOCK, QUEUE, SET)
}

__all__ = ["MODELS", "NO_VALUE", "Model", "freeze"]
