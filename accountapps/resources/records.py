"""Printable records: each application and enrollment as a PDF.

A record is drawn from the representations the caller would be given (the
resource, an application's workflow, the audit trail where the caller may read
it), so it masks exactly what the JSON masks for that caller. It has the ETag
rules of the JSON representation, with tags of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.auth.security import requires
from accountapps.domain import store
from accountapps.domain.lifecycle import Kind
from accountapps.representations import record
from accountapps.representations.application import snapshot_view as application_snapshot_view
from accountapps.representations.audit import SnapshotView, render_audit_trail
from accountapps.representations.enrollment import snapshot_view as enrollment_snapshot_view
from accountapps.representations.workflow import render_workflow
from accountapps.resources import applications, enrollments
from accountapps.resources.common import error_responses, record_response
from accountapps.web import hal
from accountapps.web.bodies import Blueprint

blp = Blueprint(
    "records", __name__, url_prefix=hal.BASE_PATH,
    description="Printable records (PDF) of applications and enrollments.",
)

#: The 200 answer of a record, documented: a PDF document (binary content has
#: no schema in OpenAPI 3.1; the media type says what it is).
PDF_RESPONSE = {200: {"content": {record.MEDIA_TYPE: {}}}}


def _context(kind: Kind, row: Any, principal: Principal,
             snapshot_view: SnapshotView) -> record.Context:
    trail = (render_audit_trail(store.audit_trail(kind, row.id, principal),
                                f"{kind.path}/{row.id}", principal, snapshot_view)
             if policy.may_read_audit(principal) else None)
    return record.Context(institution=current_app.config["ACCOUNTAPPS_INSTITUTION_NAME"],
                          generated_at=datetime.now(UTC), masked=not policy.may_read_pii(principal),
                          trail=trail)


def _application_record(row: Any, principal: Principal) -> bytes:
    kind = applications.KIND
    return record.application_record(applications.render(row, principal),
                                     render_workflow(row, principal, kind),
                                     _context(kind, row, principal,
                                              application_snapshot_view))


def _enrollment_record(row: Any, principal: Principal) -> bytes:
    kind = enrollments.KIND
    return record.enrollment_record(enrollments.render(row, principal),
                                    _context(kind, row, principal,
                                             enrollment_snapshot_view))


@blp.route("/applications/<application_id>/record", methods=["GET"])
@blp.response(200, description="The application's printable record (PDF).")
@blp.doc(responses=PDF_RESPONSE)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 404)
@requires("banking/read")
def get_application_record(application_id: str) -> Response:
    """Download the printable record of this account application (PDF).

    Product and workflow version, applicants with their identity verification,
    organization, funding, consents, documents, the checklist and what still
    blocks, the decision and, for the institution and auditors, the audit trail.
    Personal data is masked exactly as in the JSON for this caller.
    """
    return record_response(applications.KIND, application_id, _application_record)


@blp.route("/enrollments/<enrollment_id>/record", methods=["GET"])
@blp.response(200, description="The enrollment's printable record (PDF).")
@blp.doc(responses=PDF_RESPONSE)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 404)
@requires("banking/read")
def get_enrollment_record(enrollment_id: str) -> Response:
    """Download the printable record of this enrollment (PDF).

    The applicant with identity verification, verifications and consents, the
    required and provided documents, what still blocks, the decision and, for
    the institution and auditors, the audit trail. Personal data is masked
    exactly as in the JSON for this caller.
    """
    return record_response(enrollments.KIND, enrollment_id, _enrollment_record)
