"""Account applications: the collection, each application, and its actions."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from marshmallow import fields

from accountapps.auth.principal import Principal
from accountapps.auth.security import current_principal, requires
from accountapps.domain import applications as service
from accountapps.domain import store
from accountapps.representations.application import (
    ApplicationCreateSchema,
    ApplicationSchema,
    ApplicationsSchema,
    ApplicationUpdateSchema,
    load_update,
    render_application,
    snapshot_view,
    summary_renderer,
)
from accountapps.representations.audit import AuditRecordsSchema
from accountapps.representations.collection import render_page
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.workflow import add_to_application
from accountapps.resources.common import (
    CollectionArgs,
    audit_trail_response,
    error_responses,
    read_response,
    register_actions,
    resource_response,
    update_response,
)
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.preconditions import if_match

blp = Blueprint(
    "applications", __name__, url_prefix=hal.BASE_PATH,
    description="Account applications and the actions that change their state.",
)

KIND = service.KIND


class ApplicationCollectionArgs(CollectionArgs):
    """Query parameters of the application collections."""

    name = fields.String(metadata={"description": "`a|b`: account name equal to any of these."})
    applicant = fields.String(metadata={"description": "An applicant's contact URI."})


#: The query parameters, documented; the domain parses and validates them, once.
COLLECTION_ARGS = ApplicationCollectionArgs()


def render(row: Any, principal: Principal) -> dict[str, Any]:
    """The application as ``principal`` sees it, with its workflow checklist."""
    return add_to_application(render_application(row, principal, KIND), row, principal)


def _collection(path: str, state: str | None = None) -> Response:
    page = service.page(current_principal(), request.args, state=state,
                        max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])
    return hal.response(render_page(page, name="applications", path=path,
                                    profile="applications", item=summary_renderer()))


@blp.route("/applications", methods=["GET"])
@blp.documents(COLLECTION_ARGS, location="query")
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_applications() -> Response:
    """Return a collection of account applications."""
    return _collection(KIND.path)


@blp.route("/runningApplications", methods=["GET"])
@blp.documents(COLLECTION_ARGS, location="query")
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_running_applications() -> Response:
    """Return a collection of active, running account applications."""
    return _collection(KIND.views["running"], "running")


@blp.route("/blockedApplications", methods=["GET"])
@blp.documents(COLLECTION_ARGS, location="query")
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_blocked_applications() -> Response:
    """Return a collection of blocked account applications."""
    return _collection(KIND.views["blocked"], "blocked")


#: The reference's createApplication example (shortened): only the product is required.
CREATE_EXAMPLE = {
    "accountName": "My checking account",
    "_links": {"apiture:product": {
        "href": "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"}},
    "fundingAmount": {"value": "1500.00", "currency": "USD"},
}


@blp.route("/applications", methods=["POST"])
@blp.arguments(ApplicationCreateSchema(), example=CREATE_EXAMPLE)
@blp.response(201, ApplicationSchema)
@error_responses(blp, 400, 409, 422)
@requires("banking/write")
def create_application(data: dict[str, Any]) -> Response:
    """Create a new account application."""
    principal = current_principal()
    row = service.create(principal, data)
    return resource_response(row, principal, render, status=201, created=True)


@blp.route("/applications/<application_id>", methods=["GET"])
@blp.response(200, ApplicationSchema)
@blp.alt_response(304, description="Not Modified")
@blp.alt_response(404, schema=ErrorResponseSchema)
@requires("banking/read")
def get_application(application_id: str) -> Response:
    """Fetch a representation of this account application."""
    return read_response(KIND, application_id, render)


def _update(application_id: str, partial: bool) -> Response:
    return update_response(KIND, application_id, partial, service.update, load_update, render)


# The body is documented here and validated by the domain, once, merged with
# the stored document (a PATCH's fields alone prove little).
@blp.route("/applications/<application_id>", methods=["PUT"])
@blp.documents(ApplicationUpdateSchema())
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 404, 409, 412, 422, 428)
@requires("banking/write")
def update_application(application_id: str) -> Response:
    """Update this account application (a complete replacement)."""
    return _update(application_id, partial=False)


@blp.route("/applications/<application_id>", methods=["PATCH"])
@blp.documents(ApplicationUpdateSchema(partial=True))
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 404, 409, 412, 422, 428)
@requires("banking/write")
def patch_application(application_id: str) -> Response:
    """Update this account application (only the fields given)."""
    return _update(application_id, partial=True)


@blp.route("/applications/<application_id>", methods=["DELETE"])
@blp.response(204)
@error_responses(blp, 404, 409, 412, 428)
@requires("banking/delete")
def delete_application(application_id: str) -> Response:
    """Delete an unused or expired application."""
    principal = current_principal()
    row = store.load_visible(KIND, application_id, principal)
    precondition = if_match(row.id, required=True)
    service.delete(principal, row, precondition)
    return Response(status=204)


@blp.route("/applications/<application_id>/auditRecords", methods=["GET"])
@blp.response(200, AuditRecordsSchema)
@error_responses(blp, 403, 404)
@requires("banking/read")
def get_application_audit_records(application_id: str) -> Response:
    """The state changes of this application: who, when, from, to and why (administrators)."""
    return audit_trail_response(KIND, application_id, snapshot_view)


register_actions(blp, KIND, ApplicationSchema, render)
