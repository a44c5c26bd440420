"""Entity tags: derived from a resource's ``(id, revision)``, nothing else.

The HTTP edge (:mod:`accountapps.web.preconditions`) sends them as ``ETag``
and parses them back from ``If-Match``; events carry the tag a change left.
"""

from __future__ import annotations

import zlib

#: Ends the tag of the masked view (a reader without PII access): a strong tag
#: names one representation, and the masked body differs from the full one.
MASKED = "m"

#: Marks the tags of a resource's other representations than its hal+json
#: (``RECORD``: its printable PDF record); the masked mark follows it.
RECORD = "r"
_VARIANTS = ("", RECORD)


def resource_part(resource_id: str) -> str:
    """The part of every tag of ``resource_id`` that names the resource."""
    return f"{zlib.crc32(resource_id.encode()):08x}"


def etag(resource_id: str, revision: int, *, masked: bool = False, variant: str = "") -> str:
    """The strong entity tag (quoted) of a resource at a revision, in its full or masked view.

    ``variant`` (one of ``""`` and :data:`RECORD`) names the representation:
    each has tags of its own, all naming the same revision.
    """
    if variant not in _VARIANTS:
        raise ValueError(f"unknown representation variant {variant!r}")
    return f'"{revision}.{resource_part(resource_id)}{variant}{MASKED if masked else ""}"'
