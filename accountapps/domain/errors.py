"""The refusals the domain (and every layer above it) raises, and what a write expects.

An :class:`ApiError` carries the status and ``_error.type`` the API documents
for it; :mod:`accountapps.web.errors` renders it as an ``errorResponse``. The
domain raises it without knowing how it is rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """An error answered with an ``errorResponse``.

    ``errors`` are nested errors (for example one per invalid field), rendered
    as ``_error._embedded.errors``.
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        remediation: str | None = None,
        errors: Iterable[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.attributes = dict(attributes) if attributes else None
        self.remediation = remediation
        self.errors = list(errors) if errors else None
        self.headers = dict(headers) if headers else {}


def field_error(name: str, message: str, type: str = "invalidField", **attributes: Any) -> dict:
    """One nested error naming a bad field."""
    return {
        "message": f"{name}: {message}",
        "type": type,
        "attributes": {"name": name, **attributes},
    }


def validation_error(errors: list[dict], status: int = 400) -> ApiError:
    """An error listing each bad field in ``_embedded.errors``."""
    count = len(errors)
    return ApiError(
        status,
        "invalidFields",
        f"The request has {count} invalid field{'s' if count != 1 else ''}.",
        remediation="Correct the fields listed in _embedded.errors.",
        errors=errors,
    )



@dataclass(frozen=True)
class IfMatch:
    """What a write's preconditions accept: ``If-Match`` (any revision, or a set of
    them) and ``If-None-Match`` (none of a set of revisions, or no existing one)."""

    any: bool
    revisions: frozenset[int]
    none_any: bool = False
    none_revisions: frozenset[int] = frozenset()

    def accepts(self, revision: int) -> bool:
        """True when the resource at ``revision`` satisfies the preconditions."""
        return ((self.any or revision in self.revisions)
                and not self.none_any and revision not in self.none_revisions)


def precondition_failed() -> ApiError:
    """The ``412`` error for a stale ``If-Match``."""
    return ApiError(
        412, "preconditionFailed",
        "The If-Match value does not match the resource's current ETag (it has "
        "changed since you fetched it), or If-None-Match names it.",
        remediation="GET the resource again, reapply your change and retry with the new ETag.",
    )
