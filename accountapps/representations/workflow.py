"""The workflow parts of an application: checklist, blockers, next action, and the
bodies of the institution's inputs (identity verifications, document reviews)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.auth.security import may_call
from accountapps.domain import lifecycle, workflow
from accountapps.representations.checklist import checklist_fields
from accountapps.representations.common import Body, action_links
from accountapps.web import hal

_REASON = validate.Length(min=1, max=1000)


class IdentityVerificationResultSchema(Body):
    """An identity-verification result for one applicant (the institution's input)."""

    applicant = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "The applicant's `_id`."})
    result = fields.String(required=True, validate=validate.OneOf(("verified", "failed")))
    reason = fields.String(validate=_REASON,
                           metadata={"description": "Why it failed (required when failed)."})
    reference = fields.String(validate=validate.Length(max=255),
                              metadata={"description": "The identity service's reference."})

    member_rules = {"if": {"properties": {"result": {"const": "failed"}}, "required": ["result"]},
                    "then": {"required": ["reason"]}}

    @validates_schema
    def _reason_when_failed(self, data: dict, **_kwargs: Any) -> None:
        if data.get("result") == "failed" and not data.get("reason"):
            raise ValidationError("is required when the result is failed.", "reason")


class DocumentReviewSchema(Body):
    """The institution's decision on one provided document."""

    document = fields.String(required=True, validate=validate.Length(min=1, max=64),
                             metadata={"description": "The document's `_id`."})
    decision = fields.String(required=True, validate=validate.OneOf(("accepted", "rejected")))
    reason = fields.String(validate=_REASON,
                           metadata={"description": "Why (required when rejected)."})

    member_rules = {"if": {"properties": {"decision": {"const": "rejected"}},
                           "required": ["decision"]},
                    "then": {"required": ["reason"]}}

    @validates_schema
    def _reason_when_rejected(self, data: dict, **_kwargs: Any) -> None:
        if data.get("decision") == "rejected" and not data.get("reason"):
            raise ValidationError("is required when the decision is rejected.", "reason")


class WorkflowSchema(Schema):
    """The workflow of an application (documentation of responses)."""

    _id = fields.String(data_key="_id")
    _profile = fields.String(data_key="_profile")
    state = fields.String(metadata={"description": "The application's workflowState."})
    definition = fields.Dict(metadata={"description": "_id, version and productId of the "
                                                      "definition the application started with."})
    tasks = checklist_fields()["tasks"]
    blockers = checklist_fields()["blockers"]
    nextAction = checklist_fields()["nextAction"]
    _links = fields.Dict(data_key="_links")


#: rel -> (path under the API, the document's list it acts on) of the institution's
#: operations on application ``{id}``. The pattern builds the href and, as is,
#: finds the route whose scope the link needs.
_INSTITUTION_OPERATIONS = {
    "apiture:identityVerifications": ("/applications/{id}/identityVerifications", "applicants"),
    "apiture:documentReviews": ("/applications/{id}/documentReviews", "documents"),
}


def _institution_links(row: Any, principal: Principal) -> dict[str, dict]:
    """The institution's operations: for administrators whose token holds each route's
    scope, while the application is in progress and has an applicant to verify or a
    document to review (with none, every request would be ``422``)."""
    if (not policy.may_give_institution_input(principal)
            or row.state not in lifecycle.INCOMPLETE_STATES):
        return {}
    return {
        rel: hal.link(hal.api_url(pattern.format(id=row.id)))
        for rel, (pattern, items) in _INSTITUTION_OPERATIONS.items()
        if row.document.get(items) and may_call(principal, "POST", hal.BASE_PATH + pattern)
    }


def _verifications(doc: dict[str, Any]) -> list[dict[str, Any]]:
    # The fingerprint is how we notice changed details; it is not the client's business.
    return [{k: v for k, v in record.items() if k != "fingerprint"}
            for record in doc.get("identityVerifications") or []]


def add_to_application(body: dict[str, Any], row: Any, principal: Principal) -> dict[str, Any]:
    """Add the checklist (tasks, blockers, next action) and the institution's links."""
    evaluation = workflow.evaluation(row.document, row.state)
    body["tasks"] = evaluation.tasks
    body["blockers"] = evaluation.blockers
    body["nextAction"] = evaluation.next_action
    body["identityVerifications"] = _verifications(row.document)
    body["_links"].update(_institution_links(row, principal))
    return body


def render_workflow(row: Any, principal: Principal, kind: lifecycle.Kind) -> dict[str, Any]:
    """``GET /applications/{id}/workflow``: the snapshot definition and its progress."""
    evaluation = workflow.evaluation(row.document, row.state)
    definition = workflow.definition_of(row.document)
    return {
        "_id": row.document.get("workflowId") or row.id,
        "_profile": hal.profile("workflow"),
        "state": evaluation.workflow_state,
        "definition": {key: definition.get(key) for key in ("_id", "version", "productId")},
        "tasks": evaluation.tasks,
        "blockers": evaluation.blockers,
        "nextAction": evaluation.next_action,
        "_links": {
            **hal.links(self=hal.api_url(f"/applications/{row.id}/workflow"),
                        apiture_application=hal.api_url(f"/applications/{row.id}")),
            **_institution_links(row, principal),
            **{rel: link for rel, link in action_links(kind, row, principal).items()
               if rel == "apiture:approve"},
        },
    }
