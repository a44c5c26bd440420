"""Enrollments in digital banking: the collection, each enrollment, and its actions."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from marshmallow import fields

from accountapps.auth.principal import Principal
from accountapps.auth.security import current_principal, requires
from accountapps.domain import enrollments as service
from accountapps.domain import store
from accountapps.representations.audit import AuditRecordsSchema
from accountapps.representations.collection import render_page
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.enrollment import (
    EnrollmentSchema,
    EnrollmentsSchema,
    EnrollmentWriteSchema,
    load_write,
    render_enrollment,
    render_summary,
    snapshot_view,
)
from accountapps.representations.examples import CREATE_ENROLLMENT_EXAMPLE as CREATE_EXAMPLE
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


#: The query parameters, documented; the domain parses and validates them, once.
COLLECTION_ARGS = EnrollmentCollectionArgs()
#: An instance: given a class, webargs would build a new one on every request.
WRITE_SCHEMA = EnrollmentWriteSchema()


def render(row: Any, principal: Principal) -> dict[str, Any]:
    """The enrollment as ``principal`` sees it."""
    return render_enrollment(row, principal, KIND)


@blp.route("/enrollments", methods=["GET"])
@blp.documents(COLLECTION_ARGS, location="query")
@blp.response(200, EnrollmentsSchema)
@error_responses(blp, 400, 422)
@requires("banking/read")
def get_enrollments() -> Response:
    """Return a collection of enrollments."""
    page = service.page(current_principal(), request.args,
                        max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])
    return hal.response(render_page(page, name="enrollments", path=KIND.path,
                                    profile="enrollments", item=render_summary))


@blp.route("/enrollments", methods=["POST"])
@blp.arguments(WRITE_SCHEMA, example=CREATE_EXAMPLE)
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
    return read_response(KIND, enrollment_id, render)


def _update(enrollment_id: str, partial: bool) -> Response:
    return update_response(KIND, enrollment_id, partial, service.update, load_write, render)


# The body is documented here and validated by the domain, once, merged with
# the stored document, after masked values sent back (``*****3333``) are restored.
@blp.route("/enrollments/<enrollment_id>", methods=["PUT"])
@blp.documents(WRITE_SCHEMA, refusal=None)
@blp.response(200, EnrollmentSchema)
@error_responses(blp, 400, 404, 409, 412, 428)
@requires("banking/write")
def update_enrollment(enrollment_id: str) -> Response:
    """Update this enrollment (a complete replacement)."""
    return _update(enrollment_id, partial=False)


@blp.route("/enrollments/<enrollment_id>", methods=["PATCH"])
@blp.documents(WRITE_SCHEMA, refusal=None)
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
    return audit_trail_response(KIND, enrollment_id, snapshot_view)


register_actions(blp, KIND, EnrollmentSchema, render)
