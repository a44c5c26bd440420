"""Enrollments in digital banking: the collection, each enrollment, and its actions."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from marshmallow import fields

from accountapps.auth.security import Principal, current_principal, requires
from accountapps.domain import enrollments as service
from accountapps.domain import store
from accountapps.domain.collection_query import alternatives, query_page
from accountapps.representations.audit import AuditRecordsSchema
from accountapps.representations.collection import render_page
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.enrollment import (
    EnrollmentSchema,
    EnrollmentsSchema,
    EnrollmentWriteSchema,
    render_enrollment,
    render_summary,
)
from accountapps.representations.examples import CREATE_ENROLLMENT_EXAMPLE as CREATE_EXAMPLE
from accountapps.resources.common import (
    ACTION_BODY,
    CollectionArgs,
    audit_trail_response,
    error_responses,
    perform_action,
    resource_response,
    target_parameter,
)
from accountapps.storage.models import Enrollment
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.preconditions import if_match

blp = Blueprint(
    "enrollments", __name__, url_prefix=hal.BASE_PATH,
    description="Enrollments in digital banking and the actions that approve or reject them.",
)

KIND = service.KIND


class EnrollmentCollectionArgs(CollectionArgs):
    """Query parameters of the enrollment collection."""

    sortBy = fields.String(metadata={"description": "e.g. `-createdAt,applicantName`."})
    filter = fields.String(metadata={"description": (
        "Filter expression, e.g. `and(eq(state,running),eq(flaggedForReview,true))`.")})
    q = fields.String(metadata={"description": "Text search over applicant names and usernames."})
    name = fields.String(metadata={"description": "`a|b`: applicant name equal to any of these."})
    flaggedForReview = fields.String(metadata={"description": "`true` or `false`."})


#: An instance: given a class, webargs would build a new one on every request.
COLLECTION_ARGS = EnrollmentCollectionArgs()


def render(row: Enrollment, principal: Principal) -> dict[str, Any]:
    """The enrollment as ``principal`` sees it."""
    return render_enrollment(row, principal, KIND)


@blp.route("/enrollments", methods=["GET"])
@blp.arguments(COLLECTION_ARGS, location="query", as_kwargs=True)
@blp.response(200, EnrollmentsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_enrollments(**_query: Any) -> Response:
    """Return a collection of enrollments."""
    principal = current_principal()
    args = request.args
    store.expire_due(KIND, owner=None if principal.is_admin else principal.user_id)
    where = []
    states = alternatives(args, "state", service.STATES)
    if states is not None:
        where.append(Enrollment.state.in_(states))
    names = alternatives(args, "name")
    if names is not None:
        where.append(Enrollment.applicant_name.in_(names))
    flagged = alternatives(args, "flaggedForReview", ("true", "false"))
    if flagged is not None:
        where.append(Enrollment.flagged_for_review.in_([value == "true" for value in flagged]))
    query = store.scoped(Enrollment.select(
        Enrollment.id, Enrollment.applicant_name, Enrollment.username, Enrollment.state,
        Enrollment.flagged_for_review, Enrollment.created_at, Enrollment.completed_at,
    ), Enrollment, principal)
    page = query_page(service.COLLECTION, query, args,
                      max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"], where=where)
    body = render_page(page, name="enrollments", path="/enrollments", profile="enrollments",
                       item=render_summary)
    return hal.response(body)


@blp.route("/enrollments", methods=["POST"])
@blp.arguments(EnrollmentWriteSchema(), example=CREATE_EXAMPLE)
@blp.response(201, EnrollmentSchema)
@error_responses(blp, 400, 409)
@requires("banking/write")
def create_enrollment(data: dict[str, Any]) -> Response:
    """Create a new enrollment (one in progress per user)."""
    principal = current_principal()
    row = service.create(principal, data)
    return resource_response(row, principal, render, status=201, created=True)


@blp.route("/enrollments/<enrollment_id>", methods=["GET"])
@blp.response(200, EnrollmentSchema)
@blp.alt_response(304, description="Not Modified")
@blp.alt_response(404, schema=ErrorResponseSchema)
@requires("banking/read")
def get_enrollment(enrollment_id: str) -> Response:
    """Fetch a representation of this enrollment."""
    principal = current_principal()
    row = store.load_visible(KIND, enrollment_id, principal)
    return resource_response(row, principal, render)


#: PUT and PATCH bodies are validated by the domain, after masked values sent back
#: (``*****3333``) are restored from the stored ones; so they are documented, not
#: parsed, here.
_WRITE_BODY = {
    "required": True,
    "content": {media: {"schema": {"$ref": "#/components/schemas/enrollmentWrite"}}
                for media in ("application/hal+json", "application/json")},
}


def _update(enrollment_id: str, partial: bool) -> Response:
    principal = current_principal()
    row = store.load_visible(KIND, enrollment_id, principal)
    precondition = if_match(row.id, required=True)
    row = service.update(principal, row, request.get_json(), precondition, partial=partial)
    return resource_response(row, principal, render)


@blp.route("/enrollments/<enrollment_id>", methods=["PUT"])
@blp.doc(requestBody=_WRITE_BODY)
@blp.response(200, EnrollmentSchema)
@error_responses(blp, 400, 404, 409, 412, 428)
@requires("banking/write")
def update_enrollment(enrollment_id: str) -> Response:
    """Update this enrollment (a complete replacement)."""
    return _update(enrollment_id, partial=False)


@blp.route("/enrollments/<enrollment_id>", methods=["PATCH"])
@blp.doc(requestBody=_WRITE_BODY)
@blp.response(200, EnrollmentSchema)
@error_responses(blp, 400, 404, 409, 412, 428)
@requires("banking/write")
def patch_enrollment(enrollment_id: str) -> Response:
    """Update this enrollment (a JSON merge patch: only the fields given)."""
    return _update(enrollment_id, partial=True)


@blp.route("/enrollments/<enrollment_id>", methods=["DELETE"])
@blp.response(204)
@error_responses(blp, 404, 409, 412)
@requires("banking/delete")
def delete_enrollment(enrollment_id: str) -> Response:
    """Delete this enrollment and what it owns (``If-Match`` optional, honoured)."""
    principal = current_principal()
    row = store.load_visible(KIND, enrollment_id, principal)
    service.delete(principal, row, if_match(row.id, required=False))
    return Response(status=204)


@blp.route("/enrollments/<enrollment_id>/auditRecords", methods=["GET"])
@blp.response(200, AuditRecordsSchema)
@blp.alt_response(404, schema=ErrorResponseSchema)
@requires("banking/read")
def get_enrollment_audit_records(enrollment_id: str) -> Response:
    """The state changes of this enrollment: who, when, from, to and why (administrators)."""
    return audit_trail_response(KIND, enrollment_id)


def _register_action(path: str, target: str, endpoint: str, summary: str) -> None:
    @blp.route(path, methods=["POST"], endpoint=endpoint)
    @blp.doc(parameters=[target_parameter(KIND)])
    @blp.arguments(ACTION_BODY, required=False)
    @blp.response(200, EnrollmentSchema)
    @blp.alt_response(400, schema=ErrorResponseSchema)
    @blp.alt_response(403, schema=ErrorResponseSchema)
    @blp.alt_response(409, schema=ErrorResponseSchema)
    @blp.alt_response(412, schema=ErrorResponseSchema)
    @requires("banking/write")
    def view(body: dict[str, Any]) -> Response:
        return perform_action(KIND, target, render, body)

    view.__doc__ = summary


for _path, _target, _endpoint, _summary in (
    ("/rejectedEnrollments", "rejected", "rejectEnrollment",
     "Reject an enrollment (the financial institution only)."),
    ("/approvedEnrollments", "approved", "approveEnrollment",
     "Approve an enrollment whose requirements are complete (the financial institution only)."),
):
    _register_action(_path, _target, _endpoint, _summary)
