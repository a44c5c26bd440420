"""Account applications: the collection, each application, and its actions."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from marshmallow import fields

from accountapps.auth.security import Principal, current_principal, requires
from accountapps.domain import applications as service
from accountapps.domain import store
from accountapps.domain.collection_query import alternatives, query_page
from accountapps.representations.application import (
    ApplicationCreateSchema,
    ApplicationSchema,
    ApplicationsSchema,
    ApplicationUpdateSchema,
    render_application,
    summary_renderer,
)
from accountapps.representations.audit import AuditRecordsSchema
from accountapps.representations.collection import render_page
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.workflow import add_to_application
from accountapps.resources.common import (
    ACTION_BODY,
    CollectionArgs,
    audit_trail_response,
    error_responses,
    perform_action,
    resource_response,
    target_parameter,
)
from accountapps.storage.models import Application, ApplicationApplicant
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


#: Schemas are given to ``@blp.arguments`` as instances: given a class, webargs
#: builds a new instance, and with it every nested schema, on every request.
COLLECTION_ARGS = ApplicationCollectionArgs()


def render(row: Application, principal: Principal) -> dict[str, Any]:
    """The application as ``principal`` sees it, with its workflow checklist."""
    return add_to_application(render_application(row, principal, KIND), row, principal)


def _collection(path: str, fixed_state: str | None = None) -> Response:
    principal = current_principal()
    args = request.args
    store.expire_due(KIND, owner=None if principal.is_admin else principal.user_id)
    where = []
    if fixed_state:
        where.append(Application.state == fixed_state)
    states = alternatives(args, "state", service.STATES)
    if states is not None:
        where.append(Application.state.in_(states))
    names = alternatives(args, "name")
    if names is not None:
        where.append(Application.account_name.in_(names))
    if args.get("applicant"):
        where.append(Application.id.in_(
            ApplicationApplicant.select(ApplicationApplicant.application_id).where(
                ApplicationApplicant.contact_uri == args["applicant"])))
    query = store.scoped(Application.select(
        Application.id, Application.account_name, Application.applicant_name,
        Application.product_name, Application.organization_name, Application.state,
        Application.created_at, Application.completed_at,
    ), Application, principal)
    page = query_page(service.COLLECTION, query, args,
                      max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"], where=where)
    body = render_page(page, name="applications", path=path, profile="applications",
                       item=summary_renderer())
    return hal.response(body)


@blp.route("/applications", methods=["GET"])
@blp.arguments(COLLECTION_ARGS, location="query", as_kwargs=True)
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_applications(**_query: Any) -> Response:
    """Return a collection of account applications."""
    return _collection("/applications")


@blp.route("/runningApplications", methods=["GET"])
@blp.arguments(COLLECTION_ARGS, location="query", as_kwargs=True)
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_running_applications(**_query: Any) -> Response:
    """Return a collection of active, running account applications."""
    return _collection("/runningApplications", "running")


@blp.route("/blockedApplications", methods=["GET"])
@blp.arguments(COLLECTION_ARGS, location="query", as_kwargs=True)
@blp.response(200, ApplicationsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_blocked_applications(**_query: Any) -> Response:
    """Return a collection of blocked account applications."""
    return _collection("/blockedApplications", "blocked")


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
    principal = current_principal()
    row = store.load_visible(KIND, application_id, principal)
    return resource_response(row, principal, render)


def _update(application_id: str, body: dict[str, Any], partial: bool) -> Response:
    principal = current_principal()
    row = store.load_visible(KIND, application_id, principal)
    precondition = if_match(row.id, required=True)
    row = service.update(principal, row, body, precondition, partial=partial)
    return resource_response(row, principal, render)


@blp.route("/applications/<application_id>", methods=["PUT"])
@blp.arguments(ApplicationUpdateSchema())
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 404, 409, 412, 422, 428)
@requires("banking/write")
def update_application(_data: dict[str, Any], application_id: str) -> Response:
    """Update this account application (a complete replacement)."""
    return _update(application_id, request.get_json(), partial=False)


@blp.route("/applications/<application_id>", methods=["PATCH"])
@blp.arguments(ApplicationUpdateSchema(partial=True))
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 404, 409, 412, 422, 428)
@requires("banking/write")
def patch_application(_data: dict[str, Any], application_id: str) -> Response:
    """Update this account application (only the fields given)."""
    return _update(application_id, request.get_json(), partial=True)


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
    return audit_trail_response(KIND, application_id)


# --- actions -----------------------------------------------------------------

def _action(target: str, body: dict[str, Any]) -> Response:
    return perform_action(KIND, target, render, body)


def _register_action(path: str, target: str, endpoint: str, summary: str) -> None:
    scope = "banking/write"

    @blp.route(path, methods=["POST"], endpoint=endpoint)
    @blp.doc(parameters=[target_parameter(KIND)])
    @blp.arguments(ACTION_BODY, required=False)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(400, schema=ErrorResponseSchema)
    @blp.alt_response(403, schema=ErrorResponseSchema)
    @blp.alt_response(409, schema=ErrorResponseSchema)
    @blp.alt_response(412, schema=ErrorResponseSchema)
    @requires(scope)
    def view(body: dict[str, Any]) -> Response:
        return _action(target, body)

    view.__doc__ = summary


for _path, _target, _endpoint, _summary in (
    ("/expiredApplications", "expired", "expireApplication", "Expire an application."),
    ("/rejectedApplications", "rejected", "rejectApplication", "Reject an application."),
    ("/approvedApplications", "approved", "approveApplication", "Approve an application."),
    ("/canceledApplications", "canceled", "cancelApplication", "Cancel an application."),
    ("/runningApplications", "running", "startApplication", "Start an application."),
):
    _register_action(_path, _target, _endpoint, _summary)
