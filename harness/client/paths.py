"""Keys and lock names as URL path segments.

The node percent-decodes each captured path segment (docs/http-api.md: ``/kv/a%2Fb``
is the key ``a/b``), so a client must percent-encode whatever it puts there: raw, a
``#`` or ``?`` would end the path, a ``/`` would make another route, and a ``%41``
would arrive as ``A`` -- each a different key, silently.
"""

from __future__ import annotations

from urllib.parse import quote


def segment(name: str) -> str:
    """``name`` as one path segment: every byte outside the unreserved set percent-encoded."""
    return quote(name, safe="")
