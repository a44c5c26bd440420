"""The audit trail of a resource (applications, enrollments): its schema and rendering."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.representations.common import (
    Body,
    CollectionSchema,
    Timestamp,
    embedded_items,
    guarded_href,
)
from accountapps.storage.models import AuditRecord, timestamp
from accountapps.web import hal


class AuditRecordSchema(Schema):
    """One state change: who, when, from, to and why."""

    _id = fields.String(data_key="_id", required=True)
    occurredAt = Timestamp(required=True)
    userId = fields.String(allow_none=True, required=True)
    clientId = fields.String(allow_none=True, required=True)
    from_ = fields.String(data_key="from", allow_none=True, required=True)
    to = fields.String(required=True)
    reason = fields.String(allow_none=True, required=True)


#: The longest reason an action's body may give (it is kept in the audit trail).
REASON_MAX = 1000


class ActionBodySchema(Body):
    """The optional body of an action (``POST /approvedApplications?application=...``)."""

    reason = fields.String(validate=validate.Length(max=REASON_MAX), metadata={
        "description": "Why: kept in the audit trail (the record's `reason`)."})


class AuditRecordsSchema(CollectionSchema):
    """The audit trail of an application or enrollment."""

    _embedded = embedded_items(AuditRecordSchema, "AuditRecordsEmbedded")


def render_audit_trail(resource_type: str, resource_id: str, path: str) -> dict[str, Any]:
    """The audit records of one resource (``path`` is its path under the API), oldest first."""
    records = AuditRecord.select().where(
        (AuditRecord.resource_type == resource_type) & (AuditRecord.resource_id == resource_id)
    ).order_by(AuditRecord.id)
    items = [{
        "_id": str(record.id),
        "occurredAt": timestamp(record.occurred_at),
        "userId": record.user_id,
        "clientId": record.client_id,
        "from": record.from_state,
        "to": record.to_state,
        "reason": record.reason,
    } for record in records]
    return {
        "_profile": hal.profile("auditRecords"),
        "name": "auditRecords",
        "start": 0,
        "limit": len(items),
        "count": len(items),
        "_links": hal.links(self=hal.api_url(f"{path}/auditRecords"), up=hal.api_url(path)),
        "_embedded": {"items": items},
    }


def audit_trail_href(pattern: str, resource_id: str, principal: Principal) -> str | None:
    """The ``apiture:auditTrail`` link of a resource, for those whose token the trail answers.

    ``pattern`` is the resource's path with ``{id}`` (``/applications/{id}``):
    reading audit records is a right of its own, and the trail's route has its
    scope too; both must hold, or the link would lead to a ``403``.
    """
    return guarded_href(f"{pattern}/auditRecords", resource_id, principal,
                        policy.may_read_audit(principal))
