"""The one compare-and-set: every write to an application, enrollment or webhook
subscription goes through here.

A change is written only if the row still has the revision (and state, where
it has one) it had when it was read: ``UPDATE … WHERE id = ? AND revision = ?
AND state = ?`` (or the same ``DELETE``). The database decides: zero rows means another writer came
first. :func:`retrying` reads the row again and asks the caller once more, so
of racing writers exactly one wins and the others answer as if they had come
second (no change, ``409`` or ``412``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from peewee import Model

from accountapps.domain.errors import ApiError, IfMatch, precondition_failed
from accountapps.storage import sql
from accountapps.storage.db import write_transaction
from accountapps.storage.models import Event

T = TypeVar("T")

#: What an attempt answers when its write lost the race: read again and retry.
LOST = object()


def write(model: type[Model], row: Any, values: Mapping[str, Any] | None, *,
          then: Callable[[], None] | None = None,
          then_insert: tuple[type[Model], Mapping[str, Any]] | None = None,
          event: Mapping[str, Any] | None = None,
          one_statement: bool = False) -> bool:
    """Update ``row`` to ``values`` (``None``: delete it) if it is unchanged since read.

    In the same transaction, when the write took effect: ``then_insert`` (a row
    to insert) and ``event`` (the change's :class:`~accountapps.storage.models.Event`
    row), both in the same statement where the database allows, and ``then()``
    (further writes). ``one_statement``: nothing but that one statement runs.
    True when the write took effect.
    """
    guard: tuple[tuple[str, Any], ...] = (("id", row.id), ("revision", row.revision))
    if "state" in model._meta.fields:
        guard += (("state", row.state),)
    inserts = [*([then_insert] if then_insert else []), *([(Event, event)] if event else [])]
    with write_transaction(one_statement=one_statement and (values is not None or not event)):
        if values is None:
            done = sql.delete_where(model, guard)
            if done and event:
                sql.insert(Event, event)
        else:
            done = sql.update_where(model, values, guard, then_insert=inserts)
        if done and then is not None:
            then()
    return bool(done)


def retrying(name: str, row: Any, attempt: Callable[[Any], Any], *,
             reload: Callable[[], Any], if_match: IfMatch | None,
             max_attempts: int = 5) -> Any:
    """Run ``attempt(row)`` until it answers something other than :data:`LOST`.

    A lost race is ``412`` when the caller named revisions in ``If-Match`` (the
    resource changed under its tag); otherwise the row is read again with
    ``reload()`` and the attempt repeated, up to ``max_attempts`` times, then
    ``409 concurrentModification``. ``name``: the resource type, for the message.
    """
    for _attempt in range(max_attempts):
        result = attempt(row)
        if result is not LOST:
            return result
        if if_match is not None and not if_match.any:
            raise precondition_failed()
        row = reload()
    raise ApiError(409, "concurrentModification", f"The {name} is changing too often; retry.")
