"""Entity tags: derived from a resource's ``(id, revision)``, nothing else.

The HTTP edge (:mod:`accountapps.web.preconditions`) sends them as ``ETag``
and parses them back from ``If-Match``; events carry the tag a change left.
"""

from __future__ import annotations

import zlib

#: Ends the tag of the masked view (a reader without PII access): a strong tag
#: names one representation, and the masked body differs from the full one.
MASKED = "m"


def resource_part(resource_id: str) -> str:
    """The part of every tag of ``resource_id`` that names the resource."""
    return f"{zlib.crc32(resource_id.encode()):08x}"


def etag(resource_id: str, revision: int, *, masked: bool = False) -> str:
    """The strong entity tag (quoted) of a resource at a revision, in its full or masked view."""
    return f'"{revision}.{resource_part(resource_id)}{MASKED if masked else ""}"'
