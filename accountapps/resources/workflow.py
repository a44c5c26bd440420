"""An application's workflow, and the institution's inputs to it.

``GET .../workflow`` shows the checklist. The institution completes its tasks
with two administrator-only operations, each answering the updated application
and its new ``ETag`` (as the action collections do); ``If-Match`` is honoured
when sent, and the write is a compare-and-set either way.
"""

from __future__ import annotations

from typing import Any

from flask import Response

from accountapps.auth.security import current_principal, requires
from accountapps.domain import store, workflow
from accountapps.representations.application import ApplicationSchema
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.workflow import (
    DocumentReviewSchema,
    IdentityVerificationResultSchema,
    WorkflowSchema,
    render_workflow,
)
from accountapps.resources.applications import KIND, render
from accountapps.resources.common import error_responses, read_response, resource_response
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.preconditions import if_match

blp = Blueprint(
    "workflow", __name__, url_prefix=hal.BASE_PATH,
    description="The workflow of an application: its tasks, blockers and the "
                "institution's identity verifications and document reviews.",
)


@blp.route("/applications/<application_id>/workflow", methods=["GET"])
@blp.response(200, WorkflowSchema)
@blp.alt_response(304, description="Not Modified")
@blp.alt_response(404, schema=ErrorResponseSchema)
@requires("banking/read")
def get_application_workflow(application_id: str) -> Response:
    """The application's workflow: tasks with their state, blockers and the next action."""
    return read_response(KIND, application_id, lambda r, p: render_workflow(r, p, KIND))


def _institution_input(application_id: str, data: dict[str, Any], operation: Any) -> Response:
    principal = current_principal()
    row = store.load_visible(KIND, application_id, principal)
    precondition = if_match(row.id, required=False)
    row = operation(KIND, principal, row, data, precondition)
    return resource_response(row, principal, render)


@blp.route("/applications/<application_id>/identityVerifications", methods=["POST"])
@blp.arguments(IdentityVerificationResultSchema)
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 403, 404, 409, 412, 422)
@requires("banking/write")
def record_identity_verification(data: dict[str, Any], application_id: str) -> Response:
    """Record an applicant's identity-verification result (administrators)."""
    return _institution_input(application_id, data, workflow.record_identity_verification)


@blp.route("/applications/<application_id>/documentReviews", methods=["POST"])
@blp.arguments(DocumentReviewSchema)
@blp.response(200, ApplicationSchema)
@error_responses(blp, 400, 403, 404, 409, 412, 422)
@requires("banking/write")
def review_document(data: dict[str, Any], application_id: str) -> Response:
    """Accept or reject a document the applicant provided (administrators)."""
    return _institution_input(application_id, data, workflow.review_document)
