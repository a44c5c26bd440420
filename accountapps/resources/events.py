"""The event feed: every change, in commit order, for the institution to poll."""

from __future__ import annotations

from flask import Response, current_app, request

from accountapps.auth.security import current_principal, requires
from accountapps.domain import events
from accountapps.representations.events import (
    EventSchema,
    EventsSchema,
    FeedArgs,
    render_event,
    render_feed,
)
from accountapps.resources.common import error_responses
from accountapps.web import hal
from accountapps.web.bodies import Blueprint

blp = Blueprint(
    "events", __name__, url_prefix=hal.BASE_PATH,
    description="Events: one for every change of an application or enrollment, in commit "
                "order (the institution: admin/read or admin/write).",
)

FEED_ARGS = FeedArgs()


@blp.route("/events", methods=["GET"])
@blp.documents(FEED_ARGS, location="query")
@blp.response(200, EventsSchema)
@error_responses(blp, 400, 403, 422)
@requires("banking/read")
def get_events() -> Response:
    """The events after `after`, oldest first; follow `next` to poll for new ones."""
    page = events.feed(current_principal(), request.args,
                       max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])
    return hal.response(render_feed(page))


@blp.route("/events/<event_id>", methods=["GET"])
@blp.response(200, EventSchema)
@error_responses(blp, 403, 404)
@requires("banking/read")
def get_event(event_id: str) -> Response:
    """One event."""
    return hal.response(render_event(events.get(current_principal(), event_id)))
