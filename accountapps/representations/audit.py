"""The audit trail of a resource (applications, enrollments): its schema and rendering."""

from __future__ import annotations

from collections.abc import Callable
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


class WaiverSchema(Schema):
    """A task the decision settled instead of waiting for it, and who waived it."""

    task = fields.String(allow_none=True, metadata={"description": "The task's `_id`."})
    code = fields.String(allow_none=True,
                         metadata={"description": "The blocker that waited on it."})
    message = fields.String(allow_none=True)
    waivedBy = fields.String(allow_none=True, metadata={"description": "The approver."})
    waivedAt = Timestamp()


class AuditRecordSchema(Schema):
    """One state change: who, when, from, to and why; a decision's also what it saw."""

    _id = fields.String(data_key="_id", required=True)
    occurredAt = Timestamp(required=True)
    userId = fields.String(allow_none=True, required=True)
    clientId = fields.String(allow_none=True, required=True)
    from_ = fields.String(data_key="from", allow_none=True, required=True)
    to = fields.String(required=True)
    reason = fields.String(allow_none=True, required=True)
    snapshot = fields.Dict(metadata={"description": (
        "A decision's record (`to` approved or rejected): the resource as the decision "
        "saw it (for an application: product with its workflow version, funding, "
        "applicants with their identity verification, consents, documents, blockers). "
        "Immutable; personal data masked unless the token has `profiles/readPii`.")})
    waived = fields.List(fields.Nested(WaiverSchema), metadata={"description": (
        "The institution's tasks an approval settled, each waived by the approver.")})


#: The longest reason an action's body may give (it is kept in the audit trail).
REASON_MAX = 1000


class ActionBodySchema(Body):
    """The optional body of an action (``POST /approvedApplications?application=...``)."""

    reason = fields.String(validate=validate.Length(max=REASON_MAX), metadata={
        "description": "Why: kept in the audit trail (the record's `reason`)."})


class AuditRecordsSchema(CollectionSchema):
    """The audit trail of an application or enrollment."""

    _embedded = embedded_items(AuditRecordSchema, "AuditRecordsEmbedded")


#: snapshot_view(snapshot, pii) -> the snapshot as a reader with (or without) PII sees it
SnapshotView = Callable[[dict[str, Any], bool], dict[str, Any]]


def render_audit_trail(records: list[AuditRecord], path: str, principal: Principal,
                       snapshot_view: SnapshotView) -> dict[str, Any]:
    """The audit records of one resource (``path`` is its path under the API), oldest first.

    A decision's snapshot is shown through ``snapshot_view``, masked unless
    ``principal`` may read personal data.
    """
    pii = policy.may_read_pii(principal)
    items = []
    for record in records:
        item = {
            "_id": str(record.id),
            "occurredAt": timestamp(record.occurred_at),
            "userId": record.user_id,
            "clientId": record.client_id,
            "from": record.from_state,
            "to": record.to_state,
            "reason": record.reason,
        }
        decision = record.decision or {}
        if decision.get("snapshot") is not None:
            item["snapshot"] = snapshot_view(decision["snapshot"], pii)
        if decision.get("waived"):
            item["waived"] = decision["waived"]
        items.append(item)
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
