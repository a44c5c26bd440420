"""Reads and compare-and-set writes shared by every resource.

* :func:`visible` is the ownership filter: every query of user data goes
  through it (a non-administrator sees only what it created).
* :func:`load_visible` answers ``404`` for missing and for someone else's
  resources alike, and expires a resource that is overdue on access.
* :func:`cas_update` is the one optimistic-concurrency write:
  ``UPDATE … SET revision = revision + 1 … WHERE id = ? AND revision = ?``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import Expression, Model, ModelSelect

from . import lifecycle
from .db import write_transaction
from .errors import ApiError
from .lifecycle import Kind
from .models import utcnow
from .preconditions import IfMatch, precondition_failed
from .security import Principal

EXPIRY_REASON = "No activity within the configured expiry period."


def visible(model: type[Model], principal: Principal) -> Expression | None:
    """The ownership condition for ``principal`` (``None``: sees everything)."""
    if principal.is_admin:
        return None
    return model.owner == principal.user_id


def scoped(query: ModelSelect, model: type[Model], principal: Principal) -> ModelSelect:
    """``query`` restricted to what ``principal`` may see."""
    condition = visible(model, principal)
    return query if condition is None else query.where(condition)


def not_found(kind: Kind, resource_id: str) -> ApiError:
    """The ``404`` for a resource that does not exist or is not the caller's."""
    return ApiError(
        404, "notFound", f"There is no {kind.name} {resource_id!r}.",
        attributes={"id": resource_id},
    )


def fetch(kind: Kind, resource_id: str) -> Any:
    """The row by id, regardless of owner (``None`` if missing)."""
    return kind.model.get_or_none(kind.model.id == resource_id)


def load_visible(kind: Kind, resource_id: str, principal: Principal) -> Any:
    """The row ``principal`` may see, expired first if it is overdue; else ``404``."""
    if len(resource_id) > 64:
        raise not_found(kind, resource_id[:64])
    query = scoped(kind.model.select(), kind.model, principal).where(
        kind.model.id == resource_id)
    row = query.first()
    if row is None:
        raise not_found(kind, resource_id)
    if lifecycle.is_due(row):
        row = expire(kind, row.id)
    return row


def expire(kind: Kind, resource_id: str) -> Any:
    """Expire one overdue resource as the service itself (idempotent)."""

    def load(rid: str) -> Any:
        row = fetch(kind, rid)
        if row is None:
            raise not_found(kind, rid)
        return row

    row = load(resource_id)
    if not lifecycle.is_due(row):
        return row
    return lifecycle.transition(kind, resource_id, "expired", principal=None,
                                reason=EXPIRY_REASON, load=load)


def expire_due(kind: Kind, batch: int = 500, owner: str | None = None) -> int:
    """Expire every overdue resource (of ``owner``, or all); return how many changed.

    Safe to run from several hosts at once: each expiry is a conditional UPDATE,
    so an application expires once and has one audit record.
    """
    model = kind.model
    changed = 0
    last_id = ""
    while True:
        query = model.select(model.id).where(
            model.state.in_(lifecycle.INCOMPLETE_STATES)
            & (model.active_at < lifecycle.expiry_cutoff())
            & (model.id > last_id)
        )
        if owner is not None:
            query = query.where(model.owner == owner)
        ids = [row.id for row in query.order_by(model.id).limit(batch)]
        if not ids:
            return changed
        for rid in ids:
            before = fetch(kind, rid)
            after = expire(kind, rid)
            if before is not None and after.state != before.state:
                changed += 1
        last_id = ids[-1]


def cas_update(
    kind: Kind,
    row: Any,
    if_match: IfMatch,
    compute: Callable[[Any], dict[str, Any]],
    *,
    reload: Callable[[], Any],
    also: Callable[[dict[str, Any]], None] | None = None,
    max_attempts: int = 5,
) -> Any:
    """Apply ``compute(row)`` as a compare-and-set on the row's revision.

    ``412`` when the caller's tag does not name the current revision, before or
    during the write (the database decides: zero rows updated). Only resources
    still in progress can change: a completed one is retained as it is (``409``).
    ``also(values)`` runs inside the same transaction after a successful update.
    """
    model = kind.model
    for _attempt in range(max_attempts):
        if not if_match.accepts(row.revision):
            raise precondition_failed()
        if row.state not in ("pending", *lifecycle.INCOMPLETE_STATES):
            raise ApiError(
                409, "resourceCompleted",
                f"The {kind.name} is {row.state}; completed {kind.name}s are retained "
                "unchanged.", attributes={"state": row.state},
            )
        values = compute(row)
        values.update(revision=row.revision + 1, active_at=utcnow())
        with write_transaction():
            updated = model.update(values).where(
                (model.id == row.id) & (model.revision == row.revision)
                & (model.state == row.state)
            ).execute()
            if updated and also is not None:
                also(values)
        if updated:
            return reload()
        if not if_match.any:
            raise precondition_failed()
        row = reload()
    raise ApiError(409, "concurrentModification", f"The {kind.name} is changing too often.")
