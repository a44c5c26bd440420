"""Events: one for every change of an application or enrollment (the transactional outbox).

Every write that changes a resource writes its event in the same transaction
(in the same statement where the database allows): :func:`values` builds the
row, and the write paths pass it on — :func:`accountapps.domain.cas.write`
(``event=``) for updates, transitions and deletes, an insert beside the
resource's own for creates. So a change that commits has exactly one event,
and one that rolls back (or loses a race, or changes nothing) has none.

An event says what happened (``type``), when, to which resource (its id, path
and the revision, hence the ``ETag``, the change left), who or what caused it
and why (as the audit record does), and a summary: states and names, never a
tax id, an account number or other personal data.

:func:`feed` reads them in commit order for pollers (``GET /events``); the
dispatcher (:mod:`accountapps.domain.dispatch`) pushes them to webhooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, has_app_context

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain.errors import ApiError
from accountapps.domain.etags import etag
from accountapps.domain.ids import new_id
from accountapps.storage import event_log, sql
from accountapps.storage.models import Event, timestamp, utcnow

#: A transition's event, by the state it reaches.
TRANSITION_TYPES = {
    "running": "started", "blocked": "blocked", "approved": "approved",
    "rejected": "rejected", "canceled": "canceled", "expired": "expired",
}

#: Every event type, by resource type (the catalogue of the feed, subscriptions and docs).
TYPES: dict[str, tuple[str, ...]] = {
    "application": ("created", "updated", "identityVerificationRecorded", "documentReviewed",
                    "blocked", "started", "approved", "rejected", "canceled", "expired",
                    "deleted"),
    "enrollment": ("created", "updated", "identityVerificationRecorded", "flaggedForReview",
                   "approved", "rejected", "expired", "deleted"),
}
ALL_TYPES: tuple[str, ...] = tuple(
    f"{resource}.{change}" for resource, changes in TYPES.items() for change in changes)

#: What each event type means (the OpenAPI ``webhooks`` and the docs say it).
DESCRIPTIONS = {
    "created": "The {r} was created.",
    "updated": "The {r} was changed (PUT or PATCH) without a change of state.",
    "identityVerificationRecorded": "The institution recorded an identity-verification result "
                                    "(verified or failed) for the {r}'s applicant.",
    "documentReviewed": "The institution accepted or rejected a document of the {r}.",
    "flaggedForReview": "The {r} was flagged for review (by the institution, or by a fraud "
                        "report with risk factors).",
    "blocked": "The workflow blocked the {r}: everything that remains waits on the "
               "institution.",
    "started": "The {r} became running (started by the institution, or unblocked by its "
               "workflow).",
    "approved": "The {r} was approved.",
    "rejected": "The {r} was rejected.",
    "canceled": "The {r} was canceled.",
    "expired": "The {r} expired after a period without activity.",
    "deleted": "The {r} was deleted.",
}

#: Where each resource type lives under the API (``Kind.path``, checked by the tests).
RESOURCE_PATHS = {"application": "/applications", "enrollment": "/enrollments"}


def actor(principal: Principal | None) -> tuple[str | None, str | None]:
    """``(user id, client id)`` of who caused a change (the user ``None``: the service)."""
    if principal is not None:
        return principal.user_id, principal.client_id
    return None, getattr(g, "client_id", None) if has_app_context() else None


def values(resource_type: str, data: Mapping[str, Any], change: str,
           principal: Principal | None, reason: str | None, now: datetime, *,
           summary: Mapping[str, Any], deleted: bool = False) -> dict[str, Any]:
    """The ``Event`` row of one change; ``data`` holds the resource's columns after it."""
    user_id, client_id = actor(principal)
    return {
        "id": new_id(), "type": f"{resource_type}.{change}", "occurred_at": now,
        "resource_type": resource_type, "resource_id": data["id"],
        "revision": None if deleted else data["revision"],
        "user_id": user_id, "client_id": client_id, "reason": reason,
        "summary": dict(summary),
    }


def record(row: Mapping[str, Any]) -> None:
    """Insert an event row (call inside the change's transaction)."""
    sql.insert(Event, row)


def describe(event: Event, api_url: str) -> dict[str, Any]:
    """What an event says, as JSON (``api_url``: the API's absolute base for ``href``)."""
    path = f"{RESOURCE_PATHS.get(event.resource_type, '')}/{event.resource_id}"
    resource: dict[str, Any] = {
        "type": event.resource_type, "_id": event.resource_id, "path": path,
        "href": f"{api_url}{path}", "revision": event.revision,
        "etag": None if event.revision is None else etag(event.resource_id, event.revision),
    }
    return {
        "_id": event.id, "type": event.type, "occurredAt": timestamp(event.occurred_at),
        "resource": resource, "userId": event.user_id, "clientId": event.client_id,
        "reason": event.reason, "summary": event.summary,
    }


# --- the feed -------------------------------------------------------------------

_EVENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class FeedPage:
    """A page of the feed: events after ``after``, and where the next page starts."""

    events: list[Event]
    after: str | None
    limit: int
    #: the last event of this page (or ``after`` when it is empty): the next page's cursor
    next_after: str | None
    params: dict[str, str]
    retention_days: float
    earliest: datetime | None


def retention_days() -> float:
    """How long delivered events are kept (``ACCOUNTAPPS_EVENT_RETENTION_DAYS``)."""
    return float(current_app.config["ACCOUNTAPPS_EVENT_RETENTION_DAYS"])


def _bad(name: str, value: str, message: str, status: int = 400) -> ApiError:
    return ApiError(status, "invalidQueryParameter", f"{name}: {message}",
                    attributes={"name": name, "value": value[:200]})


def parse_types(raw: str, name: str = "type") -> list[str]:
    """``a|b|application.*``: the event types named (``*`` alone: every type).

    A malformed list is ``400``, a type that does not exist ``422``.
    """
    found: list[str] = []
    for item in raw.split("|"):
        item = item.strip()
        if not re.fullmatch(r"\*|[A-Za-z]{1,32}(\.[A-Za-z*]{1,64})?", item):
            raise _bad(name, raw, "types are separated by |, e.g. application.approved.")
        if item == "*":
            matched = list(ALL_TYPES)
        elif item.endswith(".*"):
            matched = [t for t in ALL_TYPES if t.startswith(item[:-1])]
        else:
            matched = [item] if item in ALL_TYPES else []
        if not matched:
            raise _bad(name, raw, f"{item!r} is not an event type; the types are "
                       f"{', '.join(ALL_TYPES)}.", 422)
        found.extend(t for t in matched if t not in found)
    return found


def _resource(raw: str) -> str:
    """The resource a ``resource`` parameter names: its id, or its URI."""
    candidate = raw.strip()
    if "/" in candidate:
        try:
            segments = urlsplit(candidate).path.rstrip("/").split("/")
        except ValueError:
            segments = []
        known = {path.strip("/") for path in RESOURCE_PATHS.values()}
        candidate = segments[-1] if len(segments) >= 2 and segments[-2] in known else ""
    if not _RESOURCE_ID.match(candidate):
        raise _bad("resource", raw, "give an application's or enrollment's id or URI.")
    return candidate


def parse_limit(raw: str | None, max_limit: int) -> int:
    """A ``limit`` parameter (default 100): ``400`` unless a number, ``422`` out of range."""
    if raw is None or raw == "":
        return min(100, max_limit)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise _bad("limit", raw, "must be a whole number.")
    if int(raw) > max_limit or int(raw) < 1:
        raise _bad("limit", raw, f"must be between 1 and {max_limit}.", 422)
    return int(raw)


def _require_reader(principal: Principal) -> None:
    if not policy.may_read_events(principal):
        raise ApiError(403, "forbidden", "Only the financial institution reads the events.",
                       remediation="Use a token with the admin/read or admin/write scope.")


def get(principal: Principal, event_id: str) -> Event:
    """One event by id (the institution only); ``404`` when there is none (or no longer)."""
    _require_reader(principal)
    event = Event.get_or_none(Event.id == event_id) if _EVENT_ID.match(event_id) else None
    if event is None:
        raise ApiError(404, "notFound", f"There is no event {event_id[:64]!r}.",
                       attributes={"id": event_id[:64]})
    return event


def feed(principal: Principal, query: Mapping[str, str], *, max_limit: int) -> FeedPage:
    """``GET /events``: the events after ``?after=`` in commit order (the institution only).

    ``type`` (``a|b``) and ``resource`` (an id or URI) filter; ``limit`` bounds
    the page. A poller that passes the last id it saw never misses an event and
    never sees one twice.
    """
    _require_reader(principal)
    limit = parse_limit(query.get("limit"), max_limit)
    params: dict[str, str] = {}
    types: Sequence[str] = ()
    if query.get("type"):
        types = parse_types(query["type"])
        params["type"] = query["type"]
        if len(types) == len(ALL_TYPES):
            types = ()
    resource_id = None
    if query.get("resource"):
        resource_id = params["resource"] = _resource(query["resource"])
    after = query.get("after") or None
    position = event_log.START
    if after is not None:
        if not _EVENT_ID.match(after):
            raise _bad("after", after, "must be the _id of an event.")
        found = event_log.position_of(after)
        if found is None:
            raise ApiError(
                422, "unknownEvent",
                f"There is no event {after!r}: it never existed, or it is older than the "
                f"{retention_days():g} days the feed keeps.",
                attributes={"name": "after", "value": after},
                remediation="Start again from the beginning of the feed (without after) "
                            "and skip the events you have already seen (by _id).")
        position = found
    read = event_log.read_after(position, limit, types=types, resource_id=resource_id)
    events = [event for event, _position in read]
    return FeedPage(events=events, after=after, limit=limit,
                    next_after=events[-1].id if events else after, params=params,
                    retention_days=retention_days(), earliest=event_log.earliest())


def prune(now: datetime | None = None) -> int:
    """Delete the events older than the retention period that nothing needs; how many."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days())
    total = 0
    while True:
        deleted = event_log.prune(cutoff)
        total += deleted
        if deleted == 0:
            return total
