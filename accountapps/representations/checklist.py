"""Schemas (documentation of responses) of the workflow checklist of an application.

Kept apart from :mod:`accountapps.representations.workflow`, which needs the
workflow logic, so that the application schema can use them without a cycle.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from accountapps.representations.common import Timestamp

_ACTORS = validate.OneOf(("applicant", "institution"))


class TaskSchema(Schema):
    """One task of the workflow, as derived from the stored data."""

    _id = fields.String(data_key="_id")
    type = fields.String()
    label = fields.String()
    actor = fields.String(validate=_ACTORS, metadata={"description": "Who completes it."})
    state = fields.String(validate=validate.OneOf(("pending", "waiting", "done")))
    waitingFor = fields.String(validate=_ACTORS,
                               metadata={"description": "Who must act first (when waiting)."})
    subject = fields.Dict()
    waivedBy = fields.String(metadata={"description": (
        "Who settled the task by approving without it (an approval waives the "
        "institution's remaining tasks).")})
    waivedAt = Timestamp(metadata={"description": "When it was waived."})


class BlockerSchema(Schema):
    """Something that forbids approval now, and how to clear it."""

    code = fields.String()
    task = fields.String()
    requirement = fields.String(metadata={
        "description": "The requirement it is about, as the product's requirements resource "
                       "names it (`document:governmentId`); only on the applicant's blockers."})
    field = fields.String()
    actor = fields.String(validate=_ACTORS, metadata={"description": "Who must act."})
    message = fields.String()
    remediation = fields.String()
    attributes = fields.Dict()


class NextActionSchema(Schema):
    """The first thing to do, and the link relation with which to do it."""

    actor = fields.String(validate=_ACTORS)
    task = fields.String()
    code = fields.String()
    field = fields.String(allow_none=True)
    message = fields.String()
    rel = fields.String()


class IdentityVerificationRecordSchema(Schema):
    """The institution's current identity-verification result for one applicant."""

    applicant = fields.String()
    result = fields.String(validate=validate.OneOf(("verified", "failed")))
    reason = fields.String()
    reference = fields.String()
    verifiedAt = Timestamp()
    userId = fields.String()


def checklist_fields() -> dict[str, fields.Field]:
    """The checklist fields shared by the application and workflow representations."""
    return {
        "tasks": fields.List(fields.Nested(TaskSchema)),
        "blockers": fields.List(fields.Nested(BlockerSchema)),
        "nextAction": fields.Nested(NextActionSchema, allow_none=True),
    }
