"""ETags and HTTP preconditions (``If-Match``, ``If-None-Match``).

An ETag is derived from ``(id, revision)``: no rendering or hashing of the body,
so a ``304`` costs one indexed lookup. The ``If-Match`` comparison itself is
made by the database, in the ``WHERE revision = ?`` of the conditional update
(see :mod:`accountapps.domain.store`), never in Python before writing.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.datastructures import Headers

from accountapps.domain.errors import ApiError, IfMatch
from accountapps.domain.etags import MASKED, RECORD, etag, resource_part


def content_etag(version: str) -> str:
    """The strong entity tag (quoted) of a read-only resource whose content has a
    version (the product catalog's: a hash of what the resource shows)."""
    return f'"{version}"'


__all__ = ["MASKED", "RECORD", "NotModified", "content_etag", "etag", "if_match",
           "not_modified"]

#: Headers that describe a body, which a ``304`` has none of (werkzeug's
#: entity headers but ``Expires`` and ``Content-Location``, RFC 9110 15.4.5).
_BODY_HEADERS = frozenset({"allow", "content-encoding", "content-language", "content-length",
                           "content-md5", "content-range", "content-type", "last-modified"})


class NotModified(Response):
    """``304 Not Modified`` with ``headers`` (the ``ETag`` and ``Vary``), and no body.

    Built without the ``Content-Type`` werkzeug gives every response, and sent
    without werkzeug's pass for a ``304``, which copies the headers (checking
    each again) to strip that and the other headers of a body again.
    """

    default_mimetype = None

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(status=304, headers=headers)

    def get_wsgi_headers(self, environ: Any) -> Headers:
        """The headers as they are, less any that describes a body (a hook's)."""
        headers = Headers()
        # Every value was checked as it was added; a filtered copy needs no second check.
        headers._list = [item for item in self.headers._list
                         if item[0].lower() not in _BODY_HEADERS]
        return headers


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def not_modified(current: str) -> bool:
    """True when ``If-None-Match`` matches ``current`` (weak comparison, RFC 9110)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    bare = current.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == bare for tag in _tags(header))


def if_match(resource_id: str, *, required: bool) -> IfMatch | None:
    """Parse a write's ``If-Match`` and ``If-None-Match`` for ``resource_id``.

    ``If-Match`` missing: ``428`` when ``required``; with neither header, ``None``.
    ``If-None-Match`` with ``*`` or a current tag makes the write ``412``. Tags
    of another resource, weak tags (strong comparison applies) and garbage can never match, so they
    end as ``412`` at the database check. The masked view's tag, and the
    record's, name the same revision as the full view's.
    """
    header = request.headers.get("If-Match")
    if not header and required:
        raise ApiError(
            428, "preconditionRequired",
            "This operation requires an If-Match header with the resource's current ETag.",
            remediation="GET the resource and send its ETag value in If-Match.",
        )
    # If-None-Match on a write (RFC 9110 13.1.2): "*" or a current tag refuses it.
    unless = request.headers.get("If-None-Match")
    none_tags = _tags(unless) if unless else []
    none_any = "*" in none_tags
    none_revisions = _revisions(resource_id, [t.removeprefix("W/") for t in none_tags])
    if not header and not (none_any or none_revisions):
        return None
    tags = _tags(header) if header else ["*"]  # no If-Match: any revision will do
    match_any = "*" in tags
    return IfMatch(any=match_any,
                   revisions=frozenset() if match_any else _revisions(resource_id, tags),
                   none_any=none_any, none_revisions=none_revisions)


def _revisions(resource_id: str, tags: list[str]) -> frozenset[int]:
    """The revisions of ``resource_id`` that ``tags`` name (strong tags of any view)."""
    expected = resource_part(resource_id)
    revisions = set()
    for tag in tags:
        if len(tag) < 2 or tag[0] != '"' or tag[-1] != '"':
            continue
        number, _, rest = tag[1:-1].partition(".")
        # Any view's tag names the revision: a write needs no more. ASCII
        # digits only ("²".isdigit() is true, int() refuses it), and no more
        # than a revision can have (int() refuses 4,300 digits and more).
        # Compared as written: "01" is not the tag "1" (strong comparison).
        if (_unmarked(rest) == expected and number.isascii() and number.isdigit()
                and len(number) <= 18 and not number.startswith("0")):
            revisions.add(int(number))
    return frozenset(revisions)


def _unmarked(rest: str) -> str:
    """A tag's part after the revision, without its view's marks (variant, then masked)."""
    return rest.removesuffix(MASKED).removesuffix(RECORD)
