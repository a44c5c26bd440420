"""Webhook subscriptions: which receiver gets which events, and how its deliveries went.

The institution subscribes a receiver URL to event types (or ``*``); the
answer shows the signing secret once (Standard Webhooks: ``whsec_`` and 32
random bytes in base64). A subscription changes by compare-and-set on its
revision, as every resource does (``If-Match``). Each shows its recent
delivery attempts and its dead letters; those (or any delivery already made)
can be delivered again. The dispatcher (:mod:`accountapps.domain.dispatch`)
does the delivering.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import cas, events, receivers
from accountapps.domain.collection_query import alternatives
from accountapps.domain.errors import (
    ApiError,
    IfMatch,
    field_error,
    precondition_failed,
    validation_error,
)
from accountapps.domain.ids import new_id
from accountapps.storage.db import write_transaction
from accountapps.storage.models import WebhookDelivery, WebhookSubscription, utcnow


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def allow_private() -> bool:
    """``ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE``: http and private receivers (development)."""
    return bool(current_app.config["ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE"])


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise ApiError(403, "forbidden", f"Only the financial institution may {what}.",
                       remediation="Use a token with the admin/write scope.")


def _checked_url(url: Any) -> str:
    """``url`` if webhooks may reach it (``422`` naming why not)."""
    try:
        receivers.check(url, allow_private=allow_private())
    except receivers.RefusedReceiver as exc:
        raise validation_error([field_error("url", str(exc), "receiverRefused",
                                            value=str(url)[:200])], 422) from exc
    return url


def _checked_types(items: Sequence[str]) -> list[str]:
    """The subscribed types as given (``*``, ``application.*``, exact types); ``422`` if unknown."""
    try:
        for item in items:
            if "|" in item:
                raise ApiError(422, "invalidFields", "give each event type as an item of "
                                                     "its own.")
            events.parse_types(item, "events")
    except ApiError as exc:
        raise validation_error([field_error("events", exc.message, "unknownEventType")],
                               422) from exc
    return list(dict.fromkeys(items))


def matches(subscribed: Sequence[str], event_type: str) -> bool:
    """True when a subscription to ``subscribed`` receives events of ``event_type``."""
    return any(item == "*" or item == event_type
               or (item.endswith(".*") and event_type.startswith(item[:-1]))
               for item in subscribed)


def create(principal: Principal, data: Mapping[str, Any]) -> tuple[WebhookSubscription, str]:
    """Subscribe ``data["url"]`` to ``data["events"]``; the subscription and its secret."""
    _require(policy.may_manage_webhooks(principal), "subscribe webhooks")
    now = utcnow()
    secret = new_secret()
    values = {
        "id": new_id(), "url": _checked_url(data["url"]),
        "events": _checked_types(data["events"]), "description": data.get("description"),
        "secret": secret, "paused": False, "created_by": principal.user_id,
        "created_at": now, "updated_at": now, "revision": 1,
    }
    with write_transaction():
        row = WebhookSubscription.create(**values)
    return row, secret


def all_subscriptions(principal: Principal) -> list[WebhookSubscription]:
    """Every subscription, oldest first (the institution and auditors)."""
    _require(policy.may_read_events(principal), "read webhook subscriptions")
    return list(WebhookSubscription.select().order_by(WebhookSubscription.created_at,
                                                      WebhookSubscription.id))


def load(principal: Principal, subscription_id: str) -> WebhookSubscription:
    """One subscription (``404`` when there is none)."""
    _require(policy.may_read_events(principal), "read webhook subscriptions")
    row = (WebhookSubscription.get_or_none(WebhookSubscription.id == subscription_id)
           if len(subscription_id) <= 64 else None)
    if row is None:
        raise ApiError(404, "notFound", f"There is no webhook subscription "
                       f"{subscription_id[:64]!r}.", attributes={"id": subscription_id[:64]})
    return row


def update(principal: Principal, row: WebhookSubscription, data: Mapping[str, Any],
           if_match: IfMatch) -> WebhookSubscription:
    """Change ``url``, ``events``, ``description`` or ``paused`` by compare-and-set."""
    _require(policy.may_manage_webhooks(principal), "change webhook subscriptions")

    def attempt(current: WebhookSubscription) -> Any:
        if not if_match.accepts(current.revision):
            raise precondition_failed()
        values: dict[str, Any] = {}
        if "url" in data and data["url"] != current.url:
            values["url"] = _checked_url(data["url"])
        if "events" in data:
            values["events"] = _checked_types(data["events"])
        for key in ("description", "paused"):
            if key in data:
                values[key] = data[key]
        if all(current.__data__.get(name) == value for name, value in values.items()):
            return current  # nothing changes: same revision, same ETag
        values.update(revision=current.revision + 1, updated_at=utcnow())
        if not cas.write(WebhookSubscription, current, values):
            return cas.LOST
        return WebhookSubscription(**{**current.__data__, **values})

    return cas.retrying("webhook subscription", row, attempt,
                        reload=lambda: load(principal, row.id), if_match=if_match)


def delete(principal: Principal, row: WebhookSubscription, if_match: IfMatch | None) -> None:
    """Unsubscribe: the subscription and every delivery owed to it go."""
    _require(policy.may_manage_webhooks(principal), "delete webhook subscriptions")

    def attempt(current: WebhookSubscription) -> Any:
        if if_match is not None and not if_match.accepts(current.revision):
            raise precondition_failed()

        def then() -> None:
            WebhookDelivery.delete().where(
                WebhookDelivery.subscription_id == current.id).execute()

        return None if cas.write(WebhookSubscription, current, None, then=then) else cas.LOST

    cas.retrying("webhook subscription", row, attempt, reload=lambda: load(principal, row.id),
                 if_match=if_match)


@dataclass
class DeliveryPage:
    """A subscription's deliveries, newest first, as filtered."""

    deliveries: list[WebhookDelivery]
    limit: int
    params: dict[str, Any]


STATUSES = ("pending", "delivered", "dead")


def deliveries(principal: Principal, row: WebhookSubscription,
               query: Mapping[str, str], *, max_limit: int) -> DeliveryPage:
    """``GET .../deliveries``: the latest deliveries (``status=a|b``, ``limit``)."""
    _require(policy.may_read_events(principal), "read webhook deliveries")
    limit = events.parse_limit(query.get("limit"), max_limit)
    params: dict[str, Any] = {"limit": limit}
    condition = WebhookDelivery.subscription_id == row.id
    statuses = alternatives(query, "status", STATUSES)
    if statuses is not None:
        condition &= WebhookDelivery.status.in_(statuses)
        params["status"] = query["status"]
    found = list(WebhookDelivery.select().where(condition).order_by(
        WebhookDelivery.id.desc()).limit(limit))
    return DeliveryPage(found, limit, params)


def redeliver(principal: Principal, row: WebhookSubscription,
              delivery_ids: Sequence[int] | None) -> int:
    """Deliver again: the named deliveries (delivered or dead), or every dead letter.

    They are due at once, with a fresh retry period. A redelivered event keeps
    its place in its resource's order, so later events of that resource wait
    for it. Returns how many will be delivered again.
    """
    _require(policy.may_manage_webhooks(principal), "redeliver webhooks")
    condition = (WebhookDelivery.subscription_id == row.id) & (
        WebhookDelivery.status != "pending")
    if delivery_ids is None:
        condition &= WebhookDelivery.status == "dead"
    else:
        found = {d.id for d in WebhookDelivery.select(WebhookDelivery.id).where(
            (WebhookDelivery.subscription_id == row.id)
            & WebhookDelivery.id.in_(list(delivery_ids)))}
        missing = [i for i in delivery_ids if i not in found]
        if missing:
            raise validation_error([field_error(
                "deliveries", f"are not deliveries of this subscription: {missing[:10]}.",
                "unknownDelivery")], 422)
        condition &= WebhookDelivery.id.in_(list(delivery_ids))
    with write_transaction():
        return WebhookDelivery.update(
            status="pending", next_attempt_at=utcnow(), first_attempt_at=None,
            delivered_at=None, claim=None).where(condition).execute()
