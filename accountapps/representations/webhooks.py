"""Webhook subscriptions and their deliveries: request bodies, representations, rendering."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from accountapps.domain import events, webhooks
from accountapps.representations.common import (
    Body,
    CollectionSchema,
    StrictBoolean,
    Timestamp,
    embedded_items,
    links_field,
)
from accountapps.storage.models import WebhookDelivery, WebhookSubscription, timestamp
from accountapps.web import hal

_TYPES_DESCRIPTION = ("Event types to receive: exact types (`application.approved`), all of a "
                      "resource's (`application.*`), or `*` for every event.")
_URL_DESCRIPTION = ("The receiver: an https URL on a public address (http and private "
                    "addresses only where ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE is set).")


#: What a subscription may name (the domain refuses any other with ``422``): documented
#: as the items' ``enum``.
SUBSCRIBABLE = ("*", *(f"{resource}.*" for resource in events.TYPES), *events.ALL_TYPES)

#: The receiver URLs ``receivers.parse`` takes (without ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE):
#: https, a host, no credentials, no fragment. That the host resolves to a public
#: address is checked on top (``422``), as no pattern can say it.
URL_PATTERN = r"^https://[^/?#@\s]+([/?][^#\s]*)?$"


def _url(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=2048), **kwargs,
                         metadata={"description": _URL_DESCRIPTION, "pattern": URL_PATTERN})


def _types(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=70),
                                     metadata={"enum": list(SUBSCRIBABLE)}),
                       validate=validate.Length(min=1, max=len(events.ALL_TYPES) + 2), **kwargs,
                       metadata={"description": _TYPES_DESCRIPTION,
                                 "example": ["application.approved", "enrollment.*"]})


class WebhookSubscriptionCreateSchema(Body):
    """A new subscription."""

    url = _url(required=True)
    events = _types(required=True)
    description = fields.String(validate=validate.Length(max=1000), allow_none=True)


class WebhookSubscriptionPatchSchema(Body):
    """A change to a subscription: only the fields given change."""

    url = _url()
    events = _types()
    description = fields.String(validate=validate.Length(max=1000), allow_none=True)
    paused = StrictBoolean(metadata={"description": "A paused subscription keeps its "
                                                    "deliveries owed until it is resumed."})


class RedeliverySchema(Body):
    """What to deliver again (none named: every dead letter)."""

    deliveries = fields.List(fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,17}$")),
                             validate=validate.Length(max=1000), metadata={
                                 "description": "`_id`s of deliveries, delivered or dead."})


class WebhookDeliverySchema(Schema):
    """One event owed to the subscription, and its last attempt."""

    _id = fields.String(data_key="_id", required=True)
    eventId = fields.String(required=True)
    eventType = fields.String(required=True)
    resourceId = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["pending", "delivered", "dead"]})
    attempts = fields.Integer(required=True)
    responseStatus = fields.Integer(allow_none=True, required=True, metadata={
        "description": "The receiver's HTTP status at the last attempt."})
    error = fields.String(allow_none=True, required=True)
    createdAt = Timestamp(required=True)
    lastAttemptAt = Timestamp(allow_none=True, required=True)
    nextAttemptAt = Timestamp(allow_none=True, required=True, metadata={
        "description": "When it is tried next (pending deliveries)."})
    deliveredAt = Timestamp(allow_none=True, required=True)
    _links = links_field(required=True)


class WebhookSubscriptionSummarySchema(Schema):
    """A subscription in the collection."""

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True, required=True)
    paused = fields.Boolean(required=True)
    _links = links_field(required=True)


class WebhookSubscriptionSchema(WebhookSubscriptionSummarySchema):
    """A webhook subscription with its recent deliveries and dead letters."""

    secret = fields.String(metadata={
        "description": "The signing secret (Standard Webhooks, `whsec_…`): in the answer "
                       "to the create only. Store it now; it is never shown again."})
    createdBy = fields.String(allow_none=True, required=True)
    createdAt = Timestamp(required=True)
    updatedAt = Timestamp(required=True)
    _links = links_field(required=True, metadata={
        "description": "`apiture:deliveries`: its recent deliveries (attempts, response "
                       "codes, next attempts); `apiture:deadLetters`: those given up on; "
                       "`apiture:redeliveries`: where to ask for them again."})


class WebhookDeliveriesSchema(CollectionSchema):
    """A subscription's deliveries, newest first."""

    _embedded = embedded_items(WebhookDeliverySchema, "WebhookDeliveriesEmbedded")


class DeliveriesArgs(Schema):
    """Query parameters of a subscription's deliveries."""

    status = fields.String(metadata={"description": "`pending|delivered|dead`: only these."})
    limit = fields.Integer(metadata={"minimum": 1, "maximum": 1000,
                                     "description": "How many (default 100), newest first."})


class WebhookSubscriptionsSchema(CollectionSchema):
    """Every webhook subscription."""

    _embedded = embedded_items(WebhookSubscriptionSummarySchema, "WebhookSubscriptionsEmbedded")


def _path(row: WebhookSubscription) -> str:
    return f"/webhookSubscriptions/{row.id}"


def render_delivery(delivery: WebhookDelivery) -> dict[str, Any]:
    """One delivery and its last attempt."""
    pending = delivery.status == "pending"
    return {
        "_id": str(delivery.id), "eventId": delivery.event_id,
        "eventType": delivery.event_type, "resourceId": delivery.resource_id,
        "status": delivery.status, "attempts": delivery.attempts,
        "responseStatus": delivery.response_status, "error": delivery.error,
        "createdAt": timestamp(delivery.created_at),
        "lastAttemptAt": timestamp(delivery.last_attempt_at),
        "nextAttemptAt": timestamp(delivery.next_attempt_at) if pending else None,
        "deliveredAt": timestamp(delivery.delivered_at),
        "_links": {"apiture:event": hal.link(hal.api_url(f"/events/{delivery.event_id}"))},
    }


def render_summary(row: WebhookSubscription) -> dict[str, Any]:
    """A subscription as the collection lists it."""
    return {"_id": row.id, "_profile": hal.profile("webhookSubscriptionSummary"),
            "url": row.url, "events": row.events, "description": row.description,
            "paused": bool(row.paused), "_links": {"self": hal.link(hal.api_url(_path(row)))}}


def render_subscription(row: WebhookSubscription, secret: str | None = None) -> dict[str, Any]:
    """A subscription (``secret``: only in the answer to its create)."""
    body: dict[str, Any] = {
        "_id": row.id, "_profile": hal.profile("webhookSubscription"), "url": row.url,
        "events": row.events, "description": row.description, "paused": bool(row.paused),
    }
    if secret is not None:
        body["secret"] = secret
    deliveries = f"{_path(row)}/deliveries"
    body.update({
        "createdBy": row.created_by, "createdAt": timestamp(row.created_at),
        "updatedAt": timestamp(row.updated_at),
        "_links": {
            "self": hal.link(hal.api_url(_path(row))),
            "apiture:deliveries": hal.link(hal.api_url(deliveries)),
            "apiture:deadLetters": hal.link(hal.api_url(deliveries, {"status": "dead"})),
            "apiture:redeliveries": hal.link(hal.api_url(f"{_path(row)}/redeliveries")),
            "collection": hal.link(hal.api_url("/webhookSubscriptions")),
        },
    })
    return body


def render_deliveries(row: WebhookSubscription, page: webhooks.DeliveryPage) -> dict[str, Any]:
    """A subscription's deliveries (as filtered), newest first."""
    path = f"{_path(row)}/deliveries"
    return {
        "_profile": hal.profile("webhookDeliveries"), "name": "deliveries",
        "start": 0, "limit": page.limit, "count": len(page.deliveries),
        "_links": {"self": hal.link(hal.api_url(path, page.params)),
                   "up": hal.link(hal.api_url(_path(row)))},
        "_embedded": {"items": [render_delivery(d) for d in page.deliveries]},
    }


def render_subscriptions(rows: list[WebhookSubscription]) -> dict[str, Any]:
    """The collection of every subscription (few: no paging)."""
    return {
        "_profile": hal.profile("webhookSubscriptions"), "name": "webhookSubscriptions",
        "start": 0, "limit": len(rows), "count": len(rows),
        "_links": {"self": hal.link(hal.api_url("/webhookSubscriptions"))},
        "_embedded": {"items": [render_summary(row) for row in rows]},
    }
