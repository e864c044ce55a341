"""Knossos's cas-register: read, write and compare-and-set on one value.

The encoding and semantics are in spec/models/register.py: a cas is
``{"f": "cas", "value": [expected, new]}``; a cas that completed fail is
dropped (it did not happen); a read of None is unknown and always legal.
"""

from __future__ import annotations

from spec.models.register import RegisterModel

CAS_REGISTER = RegisterModel(name="cas-register", allow_cas=True, none_read_is_unknown=True)
