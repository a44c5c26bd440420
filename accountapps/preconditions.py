"""ETags and HTTP preconditions (``If-Match``, ``If-None-Match``).

An ETag is derived from ``(id, revision)``: no rendering or hashing of the body,
so a ``304`` costs one indexed lookup. The ``If-Match`` comparison itself is
made by the database, in the ``WHERE revision = ?`` of the conditional update
(see :mod:`accountapps.store`), never in Python before writing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from flask import request

from .errors import ApiError

#: Ends the tag of the masked view (a reader without PII access): a strong tag
#: names one representation, and the masked body differs from the full one.
MASKED = "m"


def etag(resource_id: str, revision: int, *, masked: bool = False) -> str:
    """The strong entity tag (quoted) of a resource at a revision, in its full or masked view."""
    return f'"{revision}.{zlib.crc32(resource_id.encode()):08x}{MASKED if masked else ""}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def not_modified(current: str) -> bool:
    """True when ``If-None-Match`` matches ``current`` (weak comparison, RFC 9110)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    bare = current.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == bare for tag in _tags(header))


@dataclass(frozen=True)
class IfMatch:
    """What an ``If-Match`` header accepts: any revision, or a set of them."""

    any: bool
    revisions: frozenset[int]

    def accepts(self, revision: int) -> bool:
        """True when the resource at ``revision`` satisfies the precondition."""
        return self.any or revision in self.revisions


def if_match(resource_id: str, *, required: bool) -> IfMatch | None:
    """Parse ``If-Match`` for ``resource_id``.

    Missing: ``428`` when ``required``, else ``None``. Tags of another resource,
    weak tags (strong comparison applies) and garbage can never match, so they
    end as ``412`` at the database check. The masked view's tag names the same
    revision as the full view's.
    """
    header = request.headers.get("If-Match")
    if not header:
        if required:
            raise ApiError(
                428, "preconditionRequired",
                "This operation requires an If-Match header with the resource's current ETag.",
                remediation="GET the resource and send its ETag value in If-Match.",
            )
        return None
    tags = _tags(header)
    if "*" in tags:
        return IfMatch(any=True, revisions=frozenset())
    expected = f"{zlib.crc32(resource_id.encode()):08x}"
    revisions = set()
    for tag in tags:
        if len(tag) < 2 or tag[0] != '"' or tag[-1] != '"':
            continue
        number, _, rest = tag[1:-1].partition(".")
        # Either view's tag names the revision: a write needs no more. ASCII
        # digits only ("²".isdigit() is true, int() refuses it), and no more
        # than a revision can have (int() refuses 4,300 digits and more).
        if (rest.removesuffix(MASKED) == expected and number.isascii() and number.isdigit()
                and len(number) <= 18):
            revisions.add(int(number))
    return IfMatch(any=False, revisions=frozenset(revisions))


def precondition_failed() -> ApiError:
    """The ``412`` error for a stale ``If-Match``."""
    return ApiError(
        412, "preconditionFailed",
        "The If-Match value does not match the resource's current ETag; "
        "it has changed since you fetched it.",
        remediation="GET the resource again, reapply your change and retry with the new ETag.",
    )
