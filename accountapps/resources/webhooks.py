"""Webhook subscriptions: the institution's receivers of signed events."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from accountapps.auth.security import current_principal, requires
from accountapps.domain import webhooks
from accountapps.representations.webhooks import (
    DeliveriesArgs,
    RedeliverySchema,
    WebhookDeliveriesSchema,
    WebhookSubscriptionCreateSchema,
    WebhookSubscriptionPatchSchema,
    WebhookSubscriptionSchema,
    WebhookSubscriptionsSchema,
    render_deliveries,
    render_subscription,
    render_subscriptions,
)
from accountapps.resources.common import error_responses, resource_response
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.preconditions import if_match

blp = Blueprint(
    "webhooks", __name__, url_prefix=hal.BASE_PATH,
    description="Webhook subscriptions: events pushed to the institution's receivers, signed "
                "by the Standard Webhooks specification.",
)

DELIVERIES_ARGS = DeliveriesArgs()
CREATE_EXAMPLE = {"url": "https://hooks.bank.example/accountApplications",
                  "events": ["application.approved", "enrollment.*"],
                  "description": "Core banking: open the account on approval."}


def _render(row: Any, _principal: Any) -> dict[str, Any]:
    return render_subscription(row)


@blp.route("/webhookSubscriptions", methods=["GET"])
@blp.response(200, WebhookSubscriptionsSchema)
@error_responses(blp, 403)
@requires("banking/read")
def get_webhook_subscriptions() -> Response:
    """Every webhook subscription (the institution; auditors read them too)."""
    return hal.response(render_subscriptions(webhooks.all_subscriptions(current_principal())))


@blp.route("/webhookSubscriptions", methods=["POST"])
@blp.arguments(WebhookSubscriptionCreateSchema(), example=CREATE_EXAMPLE)
@blp.response(201, WebhookSubscriptionSchema)
@error_responses(blp, 400, 403, 422)
@requires("banking/write")
def create_webhook_subscription(data: dict[str, Any]) -> Response:
    """Subscribe a receiver; the answer shows its signing secret, once."""
    principal = current_principal()
    row, secret = webhooks.create(principal, data)
    return resource_response(row, principal, lambda r, _p: render_subscription(r, secret),
                             status=201, created=True)


@blp.route("/webhookSubscriptions/<webhook_subscription_id>", methods=["GET"])
@blp.response(200, WebhookSubscriptionSchema)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 403, 404)
@requires("banking/read")
def get_webhook_subscription(webhook_subscription_id: str) -> Response:
    """A subscription with its recent deliveries and dead letters."""
    principal = current_principal()
    return resource_response(webhooks.load(principal, webhook_subscription_id), principal, _render)


@blp.route("/webhookSubscriptions/<webhook_subscription_id>", methods=["PATCH"])
@blp.arguments(WebhookSubscriptionPatchSchema())
@blp.response(200, WebhookSubscriptionSchema)
@error_responses(blp, 400, 403, 404, 409, 412, 422, 428)
@requires("banking/write")
def patch_webhook_subscription(data: dict[str, Any], webhook_subscription_id: str) -> Response:
    """Change the URL, the event types, the description, or pause and resume."""
    principal = current_principal()
    row = webhooks.load(principal, webhook_subscription_id)
    row = webhooks.update(principal, row, data, if_match(row.id, required=True))
    return resource_response(row, principal, _render)


@blp.route("/webhookSubscriptions/<webhook_subscription_id>", methods=["DELETE"])
@blp.response(204)
@error_responses(blp, 403, 404, 409, 412)
@requires("banking/delete")
def delete_webhook_subscription(webhook_subscription_id: str) -> Response:
    """Unsubscribe (If-Match is honoured when sent)."""
    principal = current_principal()
    row = webhooks.load(principal, webhook_subscription_id)
    webhooks.delete(principal, row, if_match(row.id, required=False))
    return Response(status=204)


@blp.route("/webhookSubscriptions/<webhook_subscription_id>/deliveries", methods=["GET"])
@blp.documents(DELIVERIES_ARGS, location="query")
@blp.response(200, WebhookDeliveriesSchema)
@error_responses(blp, 400, 403, 404, 422)
@requires("banking/read")
def get_webhook_deliveries(webhook_subscription_id: str) -> Response:
    """The subscription's latest deliveries: status, attempts, response, next attempt."""
    return _deliveries(webhook_subscription_id, None)


@blp.route("/webhookSubscriptions/<webhook_subscription_id>/redeliveries", methods=["POST"])
@blp.arguments(RedeliverySchema(), required=False)
@blp.response(200, WebhookDeliveriesSchema)
@error_responses(blp, 400, 403, 404, 422)
@requires("banking/write")
def redeliver_webhooks(data: dict[str, Any], webhook_subscription_id: str) -> Response:
    """Deliver again the deliveries named, or every dead letter when none is; the answer
    lists the subscription's deliveries, the redelivered ones pending again."""
    named = data.get("deliveries")
    return _deliveries(webhook_subscription_id, [] if named is None else [int(i) for i in named])


def _deliveries(webhook_subscription_id: str, redeliver: list[int] | None) -> Response:
    """The deliveries page, after redelivering (``[]``: every dead letter) if asked."""
    principal = current_principal()
    row = webhooks.load(principal, webhook_subscription_id)
    if redeliver is not None:
        webhooks.redeliver(principal, row, redeliver or None)
    page = webhooks.deliveries(principal, row, request.args if redeliver is None else {},
                               max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])
    return hal.response(render_deliveries(row, page))
