"""Reads and compare-and-set writes shared by every resource.

* :func:`visible` is the ownership filter: every query of user data goes
  through it (a non-administrator sees only what it created).
* :func:`load_visible` answers ``404`` for missing and for someone else's
  resources alike, and expires a resource that is overdue on access.
* :func:`cas_update` is the one optimistic-concurrency write:
  ``UPDATE … SET revision = revision + 1 … WHERE id = ? AND revision = ?``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from peewee import Expression, IntegrityError, Model, ModelSelect

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import cas, lifecycle
from accountapps.domain.collection_query import CollectionSpec, Page, query_page
from accountapps.domain.errors import ApiError, IfMatch, precondition_failed
from accountapps.domain.lifecycle import Kind
from accountapps.storage import sql
from accountapps.storage.db import database, prepared
from accountapps.storage.models import AuditRecord, utcnow

T = TypeVar("T")

#: ``load(incoming, stored) -> data``: validates the document a write would store
#: (the body, or the body merged into the stored document) and returns its
#: fields; raises the ``400``. The representations provide one per resource.
Loader = Callable[[Any, Mapping[str, Any]], dict[str, Any]]

EXPIRY_REASON = "No activity within the configured expiry period."


def visible(model: type[Model], principal: Principal) -> Expression | None:
    """The ownership condition for ``principal`` (``None``: sees everything).

    :func:`load_visible` compiles this condition once, for a placeholder
    principal, so it may depend only on ``user_id`` and ``is_admin``.
    """
    owner = policy.visible_owner(principal)
    return None if owner is None else model.owner == owner


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


#: Placeholders in compiled queries (no real id or user id holds a NUL; no
#: real cutoff falls in year 1).
_ID, _USER = "\x00id", "\x00user"
_CUTOFF = datetime(1, 1, 1, 0, 0, 0, 424242)
#: (purpose, model, variant, database class) -> (SQL, parameter template).
_COMPILED: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


def _compiled(key: tuple[Any, ...], build: Callable[[], ModelSelect],
              values: dict[Any, Any]) -> tuple[str, list[Any]]:
    """The SQL of a fixed-shape query, generated once, with ``values`` for placeholders.

    On PostgreSQL the query is also prepared once per connection (``db.prepared``).
    Generating the SQL of a 15-column SELECT costs peewee more than SQLite
    needs to run it (a ``304`` does little else), and it never
    changes for the queries every request makes.
    """
    key = (*key, type(database.obj))
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = build().sql()
    sql, template = compiled
    return prepared(sql, [values.get(p, p) if isinstance(p, (str, datetime)) else p
                          for p in template])


#: The columns of a row's head: what its entity tag (id, revision), its
#: visibility (owner) and its expiry on access (state, active_at) need.
HEAD = ("id", "owner", "revision", "state", "active_at")


def _by_id(model: type[Model], resource_id: str, principal: Principal | None, *,
           head: bool = False) -> Any:
    """The row by id, through :func:`visible` for ``principal`` unless ``None``;
    only its :data:`HEAD` columns when ``head``."""
    scope = principal is not None and policy.visible_owner(principal) is not None

    def build() -> ModelSelect:
        query = model.select(*(getattr(model, name) for name in HEAD)) if head else model.select()
        if scope:
            query = scoped(query, model, Principal(_USER, frozenset(), ""))
        return query.where(model.id == _ID).limit(1)

    text, params = _compiled(("by_id", model, scope, head), build, {
        _ID: resource_id, _USER: principal.user_id if scope else None})
    return sql.first_row(model, text, params)


def create_in_progress(kind: Kind, principal: Principal, insert: Callable[[], T],
                       remedy: str) -> T:
    """Run ``insert``, the write that creates ``principal``'s new resource in progress.

    The partial unique index allows one in progress per user and refuses the
    insert (``IntegrityError``) if there is one. One that is overdue has in
    truth expired: it is expired and the insert tried once more. Otherwise
    ``409`` naming the one in progress (``remedy`` says what to do).
    """
    for attempt in range(2):
        try:
            return insert()
        except IntegrityError as exc:
            if attempt == 0 and expire_due(kind, owner=principal.user_id):
                continue
            raise in_progress_conflict(kind, principal, remedy) from exc
    raise AssertionError("unreachable")


def in_progress_conflict(kind: Kind, principal: Principal, remedy: str) -> ApiError:
    """``409``: a user may have only one application (enrollment) in progress.

    Raised when the partial unique index refuses a create; names the one in progress.
    """
    model = kind.model
    existing = model.get_or_none(
        (model.owner == principal.user_id)
        & model.state.in_(("pending", *lifecycle.INCOMPLETE_STATES)))
    return ApiError(
        409, f"{kind.name}InProgress",
        f"You already have an {kind.name} in progress; {remedy}",
        attributes={kind.param: existing.id} if existing else None,
    )


def fetch(kind: Kind, resource_id: str) -> Any:
    """The row by id, regardless of owner (``None`` if missing)."""
    return _by_id(kind.model, resource_id, None)


def load_visible(kind: Kind, resource_id: str, principal: Principal, *,
                 any_owner: bool = False, head: bool = False) -> Any:
    """The row ``principal`` may see, expired first if it is overdue; else ``404``.

    ``any_owner``: whoever owns it (the caller has been checked for a right that
    spans every owner, such as reading audit trails). ``head``: only the row's
    :data:`HEAD` columns, enough for its entity tag (a conditional read); one
    that expires on this access comes back whole.
    """
    if len(resource_id) > 64:
        raise not_found(kind, resource_id[:64])
    row = _by_id(kind.model, resource_id, None if any_owner else principal, head=head)
    if row is None:
        raise not_found(kind, resource_id)
    if lifecycle.is_due(row):
        row = expire(kind, row.id)
    return row


def audit_trail(kind: Kind, resource_id: str, principal: Principal) -> list[AuditRecord]:
    """The audit records of one resource, oldest first, for those who may read trails.

    Anyone else gets the ``404`` of a missing resource: the trail's existence is
    not disclosed. The trail outlives its resource: after a deletion, those who
    may read trails still read it; a resource that never existed is ``404``.
    """
    if not policy.may_read_audit(principal) or len(resource_id) > 64:
        raise not_found(kind, resource_id[:64])
    row = _by_id(kind.model, resource_id, None)  # an auditor reads any owner's trail
    if row is not None and lifecycle.is_due(row):
        expire(kind, row.id)
    records = list(AuditRecord.select().where(
        (AuditRecord.resource_type == kind.name) & (AuditRecord.resource_id == resource_id)
    ).order_by(AuditRecord.id))
    if row is None and not records:
        raise not_found(kind, resource_id)
    return records


def expire(kind: Kind, resource_id: str, on_change: Callable[[], None] | None = None) -> Any:
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
                                reason=EXPIRY_REASON, load=load, on_change=on_change)


def expire_due(kind: Kind, batch: int = 500, owner: str | None = None) -> int:
    """Expire every overdue resource (of ``owner``, or all); return how many changed.

    Safe to run from several hosts at once: each expiry is a conditional UPDATE,
    so an application expires once and has one audit record. Collection reads
    call it before every page, so its query is one range of the
    ``(state, active_at)`` index (or the owner's rows) and finds nothing in the
    steady state; it has no ORDER BY, which would make SQLite walk the primary
    key over the whole table. Expired rows leave the range, so each pass reads
    the rest; ``seen`` stops a row that a concurrent write kept from looping.
    """
    model = kind.model

    def build() -> ModelSelect:
        query = model.select(model.id).where(
            model.state.in_(lifecycle.INCOMPLETE_STATES) & (model.active_at < _CUTOFF))
        if owner is not None:
            query = query.where(model.owner == _USER)
        return query.limit(batch)

    changed = 0
    seen: set[str] = set()

    def count() -> None:
        nonlocal changed
        changed += 1

    while True:
        sql, params = _compiled(("due", model, owner is not None, batch), build, {
            _CUTOFF: lifecycle.expiry_cutoff(), _USER: owner})
        ids = [rid for (rid,) in database.execute_sql(sql, params) if rid not in seen]
        if not ids:
            return changed
        for rid in ids:
            seen.add(rid)
            try:
                expire(kind, rid, on_change=count)  # counts only what this sweep changed
            except ApiError as exc:
                if exc.status != 404:  # deleted meanwhile: nothing to expire
                    raise


def cas_update(
    kind: Kind,
    row: Any,
    if_match: IfMatch,
    compute: Callable[[Any], dict[str, Any]],
    *,
    reload: Callable[[], Any],
    principal: Principal,
    change: str | Callable[[Any, dict[str, Any]], str] = "updated",
    reason: str | None = None,
    also: Callable[[dict[str, Any]], Callable[[], None] | None] | None = None,
    max_attempts: int = 5,
) -> Any:
    """Apply ``compute(row)`` as a compare-and-set on the row's revision.

    A body that is not valid is refused (``400``/``422``, raised by ``compute``)
    before the tag is looked at: the request is wrong whatever the revision.
    ``412`` when the caller's tag does not name the current revision, before or
    during the write (the database decides: zero rows updated). Only resources
    still in progress can change: a completed one is retained as it is (``409``).
    ``also(values)`` names the further writes the change needs (a callable, or
    ``None`` for none); they run inside the same transaction after a successful
    update. A change with none is one statement (one round trip on PostgreSQL).
    A change that changes nothing is not written: the row comes back as it was.
    The change's event (``change``: its type after the resource's name, or a
    function of the row and the new values that names it) is written with it.
    """
    def attempt(current: Any) -> Any:
        values = compute(current)
        if not if_match.accepts(current.revision):
            raise precondition_failed()
        if current.state not in ("pending", *lifecycle.INCOMPLETE_STATES):
            raise ApiError(
                409, "resourceCompleted",
                f"The {kind.name} is {current.state}; completed {kind.name}s are retained "
                "unchanged.", attributes={"state": current.state},
            )
        if all(current.__data__.get(name) == value for name, value in values.items()):
            # Nothing would change: the same revision (and ETag), no activity
            # recorded, no write, so other clients' tags stay good.
            return current
        now = utcnow()
        values.update(revision=current.revision + 1, active_at=now)
        further = also(values) if also is not None else None
        event = kind.event({**current.__data__, **values},
                           change if isinstance(change, str) else change(current, values),
                           principal, reason, now)
        if not cas.write(kind.model, current, values, then=further, event=event,
                         one_statement=further is None):
            return cas.LOST
        return sql.as_updated(current, values)  # what reload() would return

    return cas.retrying(kind.name, row, attempt, reload=reload, if_match=if_match,
                        max_attempts=max_attempts)


def page(kind: Kind, spec: CollectionSpec, principal: Principal, query: Mapping[str, str],
         *, max_limit: int, where: Sequence[Expression] = ()) -> Page:
    """One page of ``kind``'s collection as ``principal`` sees it.

    ``query`` holds the collection's query parameters (paging, sorting,
    ``filter``, ``q``), validated here, once; ``where`` adds the conditions of
    the resource's own parameters. Overdue resources are expired first, so the
    page never shows one still in progress.
    """
    expire_due(kind, owner=policy.visible_owner(principal))
    rows = scoped(kind.model.select(*spec.columns), kind.model, principal)
    return query_page(spec, rows, query, max_limit=max_limit, where=where)
