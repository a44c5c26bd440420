"""Events as the feed shows them and as webhooks carry them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from accountapps.domain import events
from accountapps.domain.events import FeedPage
from accountapps.representations.common import embedded_items, links_field
from accountapps.storage.models import Event, timestamp
from accountapps.web import hal


class EventResourceSchema(Schema):
    """The resource an event is about, as the change left it."""

    type = fields.String(required=True, metadata={"enum": list(events.TYPES)})
    _id = fields.String(data_key="_id", required=True)
    path = fields.String(required=True, metadata={
        "description": "Its path under the API (`/applications/{id}`)."})
    href = fields.String(required=True, metadata={
        "description": "Its URI (in a webhook: under `ACCOUNTAPPS_PUBLIC_URL`, when set)."})
    revision = fields.Integer(allow_none=True, required=True, metadata={
        "description": "Its revision after the change (`null` once deleted)."})
    etag = fields.String(allow_none=True, required=True, metadata={
        "description": "Its `ETag` after the change (`null` once deleted): send it in "
                       "`If-Match` to act on exactly that version."})


class EventSummaryDataSchema(Schema):
    """States and names of the resource after the change; never personal data."""

    class Meta:
        ordered = True

    state = fields.String(required=True)
    previousState = fields.String(metadata={"description": "Before a state change."})
    workflowState = fields.String(allow_none=True)
    owner = fields.String(allow_none=True, metadata={
        "description": "The user id of the resource's owner (the applicant)."})
    productId = fields.String(allow_none=True)
    productName = fields.String(allow_none=True)
    accountName = fields.String(allow_none=True)
    applicantName = fields.String(allow_none=True)
    organizationName = fields.String(allow_none=True)
    flaggedForReview = fields.Boolean()


class EventDataSchema(Schema):
    """What happened, to which resource, who or what caused it and why.

    The ``data`` of a webhook; an item of the event feed adds ``_profile`` and
    ``_links``.
    """

    _id = fields.String(data_key="_id", required=True, metadata={
        "description": "Unique and time-ordered (a UUID version 7); the `webhook-id` of "
                       "its deliveries: receivers deduplicate by it."})
    type = fields.String(required=True, metadata={"enum": list(events.ALL_TYPES)})
    occurredAt = fields.String(required=True, metadata={"format": "date-time"})
    resource = fields.Nested(EventResourceSchema, required=True)
    userId = fields.String(allow_none=True, required=True, metadata={
        "description": "Who caused it (`null`: the service itself, e.g. expiry or the "
                       "workflow), as in the audit trail."})
    clientId = fields.String(allow_none=True, required=True)
    reason = fields.String(allow_none=True, required=True)
    summary = fields.Nested(EventSummaryDataSchema, required=True)


class EventSchema(EventDataSchema):
    """One event of the feed."""

    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)


class EventsSchema(Schema):
    """A page of the event feed, in commit order.

    Follow ``next`` for ever: it names the last event of this page (or the same
    cursor when the page is empty), so a poller that keeps it never misses an
    event and never sees one twice.
    """

    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)
    name = fields.String(required=True)
    limit = fields.Integer(required=True)
    count = fields.Integer(required=True, metadata={"description": "Events on this page."})
    after = fields.String(allow_none=True, required=True, metadata={
        "description": "The cursor: this page holds the events committed after this one."})
    retentionDays = fields.Float(required=True, metadata={
        "description": "How far back the feed reaches: delivered events older than this "
                       "are pruned."})
    earliestEventAt = fields.String(allow_none=True, required=True, metadata={
        "format": "date-time", "description": "When the oldest event still kept happened."})
    _embedded = embedded_items(EventSchema, "EventsEmbedded")


class FeedArgs(Schema):
    """Query parameters of the event feed."""

    after = fields.String(metadata={"description": "The `_id` of the last event seen."})
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 1000,
                                     "description": "Page size (default 100)."})
    type = fields.String(metadata={"description": "`a|b`: only these event types "
                                                  "(`application.*`: all of a resource's)."})
    resource = fields.String(metadata={"description": "Only this application's or "
                                                      "enrollment's events: its id or URI."})


def render_event(event: Event) -> dict[str, Any]:
    """One event of the feed, with links to itself and to its resource."""
    body = events.describe(event, hal.api_url(""))
    links = {"self": hal.link(hal.api_url(f"/events/{event.id}"))}
    if event.revision is not None:
        links["apiture:resource"] = hal.link(body["resource"]["href"])
    return {**body, "_profile": hal.profile("event"), "_links": links}


def render_feed(page: FeedPage) -> dict[str, Any]:
    """A page of the feed, with ``next`` always present (the cursor to poll with)."""

    def href(after: str | None) -> str:
        return hal.api_url("/events", {**page.params, "after": after, "limit": page.limit})

    return {
        "_profile": hal.profile("events"),
        "name": "events",
        "limit": page.limit,
        "count": len(page.events),
        "after": page.after,
        "retentionDays": page.retention_days,
        "earliestEventAt": timestamp(page.earliest),
        "_links": {"self": hal.link(href(page.after)), "first": hal.link(href(None)),
                   "next": hal.link(href(page.next_after)),
                   "collection": hal.link(hal.api_url("/events"))},
        "_embedded": {"items": [render_event(event) for event in page.events]},
    }
