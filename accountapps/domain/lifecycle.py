"""The state machine of applications and enrollments.

One transition table, one place that decides which transitions a caller may
perform now (and so which action links a representation carries), and one
conditional UPDATE that performs a transition and writes its audit record in
the same transaction. Applications and enrollments each describe themselves
with a :class:`Kind`; nothing here is specific to either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g
from peewee import Model

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import cas, events
from accountapps.domain.errors import ApiError, IfMatch, precondition_failed
from accountapps.storage import sql
from accountapps.storage.db import is_postgres
from accountapps.storage.models import AuditRecord, timestamp, utcnow

TERMINAL_STATES = ("canceled", "expired", "rejected", "approved")
INCOMPLETE_STATES = ("running", "blocked")
#: The institution's decisions: their audit records keep what the decision saw.
DECISION_STATES = ("approved", "rejected")

#: state -> the states it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "canceled", "expired"}),
    "running": frozenset({"canceled", "expired", "approved", "rejected"}),
    "blocked": frozenset({"running", "canceled", "expired", "approved", "rejected"}),
    **{state: frozenset() for state in TERMINAL_STATES},
}

#: Transitions only the service itself makes (``principal=None``), never a
#: client: the workflow blocks a running application while it waits on the
#: institution (see :mod:`accountapps.domain.workflow`).
SERVICE_TRANSITIONS: dict[str, frozenset[str]] = {"running": frozenset({"blocked"})}

@dataclass(frozen=True)
class Action:
    """An action collection: ``POST /{collection}?{param}=...`` moves to ``target``.

    The one declaration of an action: the resources register its route and the
    API root its link from it, and representations offer its link.
    """

    rel: str  # link relation without the apiture: prefix
    target: str
    collection: str  # path of the action collection, e.g. "/approvedApplications"
    who: str  # policy.INSTITUTION or policy.OWNER
    operation: str  # the OpenAPI operationId, e.g. "approveApplication"
    summary: str


@dataclass
class Kind:
    """How a resource type plugs into the state machine."""

    name: str  # "application" | "enrollment"
    model: type[Model]
    param: str  # the query parameter naming the resource in an action
    path: str  # collection path, e.g. "/applications"
    actions: dict[str, Action]  # by target state
    #: blockers(row) -> list of outstanding requirements that forbid approval
    blockers: Callable[[Any], list[dict]] = lambda _row: []
    #: on_transition(row, target, now, waived) -> extra column values for the UPDATE
    #: (``waived``: the waivers an approval records, see :func:`waivers`)
    on_transition: Callable[[Any, str, datetime, list[dict]], dict[str, Any]] = (
        lambda _row, _target, _now, _waived: {})
    #: snapshot(row) -> what a decision on ``row`` saw, kept in its audit record
    #: (stored unmasked: the representations mask it for their reader)
    snapshot: Callable[[Any], dict[str, Any]] | None = None
    #: state -> path of the collection of those in that state, e.g. "/runningApplications"
    views: dict[str, str] = field(default_factory=dict)
    #: event_summary(columns) -> the states and names an event about it carries
    #: (never personal data); ``columns`` are the row's values after the change
    event_summary: Callable[[Mapping[str, Any]], dict[str, Any]] = (
        lambda columns: {"state": columns["state"]})

    def event(self, data: Mapping[str, Any], change: str, principal: Principal | None,
              reason: str | None, now: datetime, *, deleted: bool = False,
              **extra: Any) -> dict[str, Any]:
        """The event row of a change to the resource whose columns are now ``data``."""
        return events.values(self.name, data, change, principal, reason, now,
                             summary={**self.event_summary(data), **extra}, deleted=deleted)


def approval_blockers(kind: Kind, row: Any,
                      principal: Principal | None) -> tuple[list[dict], list[dict]]:
    """``row``'s blockers, split: those that refuse ``principal``'s approval, and those
    the approval settles (the institution's own tasks, :func:`policy.may_waive`)."""
    refusing: list[dict] = []
    waivable: list[dict] = []
    for blocker in kind.blockers(row):
        settled = principal is not None and policy.may_waive(principal, blocker)
        (waivable if settled else refusing).append(blocker)
    return refusing, waivable


def waivers(blockers: list[dict], principal: Principal | None,
            now: datetime) -> list[dict[str, Any]]:
    """One waiver per blocker a decision settles: the task, what it waited for, who, when."""
    return [{"task": b.get("task"), "code": b.get("code") or b.get("type"),
             "message": b.get("message"), "waivedBy": principal.user_id if principal else None,
             "waivedAt": timestamp(now)} for b in blockers]


def waiver_reason(reason: str | None, waived: list[dict[str, Any]]) -> str | None:
    """The decision's ``reason``, followed by the list of what it waived (if anything)."""
    if not waived:
        return reason
    listed = "; ".join(f"{w['task']}: {w['message']}" for w in waived)
    note = f"Waived by {waived[0]['waivedBy']}: {listed}"
    return f"{reason} {note}" if reason else note


def decision_record(kind: Kind, row: Any, target: str,
                    waived: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``decision`` of a decision's audit record: the snapshot of ``row`` as the
    decision saw it, and the waivers (``None`` for a change that is no decision)."""
    if target not in DECISION_STATES or kind.snapshot is None:
        return None
    return {"snapshot": kind.snapshot(row), "waived": waived}


def available_actions(kind: Kind, row: Any, principal: Principal) -> list[Action]:
    """The actions ``principal`` may perform on ``row`` now (the token's scopes aside)."""
    result = []
    for target in sorted(TRANSITIONS.get(row.state, ())):
        action = kind.actions.get(target)
        if action is None or not policy.may_act(action.who, principal, row):
            continue
        if target == "approved" and approval_blockers(kind, row, principal)[0]:
            continue
        result.append(action)
    return result


def expiry_cutoff() -> datetime:
    """Resources in progress and inactive since before this moment are due to expire."""
    return utcnow() - timedelta(days=current_app.config["ACCOUNTAPPS_EXPIRY_DAYS"])


def is_due(row: Any) -> bool:
    """True when ``row`` is in progress but inactive past the expiry period."""
    return row.state in INCOMPLETE_STATES and row.active_at < expiry_cutoff()


def audit_values(kind: Kind, resource_id: str, from_state: str | None, to_state: str,
                 reason: str | None, principal: Principal | None,
                 now: datetime, decision: dict[str, Any] | None = None) -> dict[str, Any]:
    """The audit record of one state change, as ``AuditRecord`` field values."""
    values = dict(
        resource_type=kind.name, resource_id=resource_id, occurred_at=now,
        user_id=principal.user_id if principal else None,
        client_id=principal.client_id if principal else getattr(g, "client_id", None),
        from_state=from_state, to_state=to_state, reason=reason,
    )
    if decision is not None:  # most records have none: their INSERT keeps its shape
        values["decision"] = decision
    return values


def audit(kind: Kind, resource_id: str, from_state: str | None, to_state: str,
          reason: str | None, principal: Principal | None, now: datetime,
          decision: dict[str, Any] | None = None) -> None:
    """Append one record to the audit trail (call inside the write's transaction)."""
    sql.insert(AuditRecord, audit_values(kind, resource_id, from_state, to_state, reason,
                                         principal, now, decision))


def _conflict(kind: Kind, row: Any, target: str) -> ApiError:
    return ApiError(
        409, "invalidStateTransition",
        f"The {kind.name} is {row.state}; it cannot become {target}.",
        attributes={"state": row.state, "requestedState": target},
        remediation="Follow only the action links present on the resource.",
    )


def transition(
    kind: Kind,
    resource_id: str,
    target: str,
    *,
    principal: Principal | None,
    if_match: IfMatch | None = None,
    reason: str | None = None,
    load: Callable[[str], Any],
    on_change: Callable[[], None] | None = None,
    max_attempts: int = 5,
) -> Any:
    """Move a resource to ``target``; return the fresh row.

    ``on_change`` runs only when this call made the change (not when another
    writer had already made it), so that callers can count their own work.

    ``principal`` ``None`` is the service itself (expiry, workflow). The UPDATE
    is conditional on the state and revision that were read, so of two racing
    transitions exactly one happens; the loser re-reads and answers as if it
    had come second (no-op, ``409`` or ``412``).
    """
    action = kind.actions.get(target)

    def attempt(row: Any) -> Any:
        if principal is not None and (
                action is None or not policy.may_act(action.who, principal, row)):
            raise ApiError(
                403, "forbidden",
                f"You are not allowed to make this {kind.name} {target}.",
                attributes={"requestedState": target},
            )
        if if_match is not None and not if_match.accepts(row.revision):
            raise precondition_failed()
        if row.state == target:
            return row  # already there: nothing to do
        allowed = TRANSITIONS.get(row.state, frozenset())
        if principal is None:
            allowed = allowed | SERVICE_TRANSITIONS.get(row.state, frozenset())
        if target not in allowed:
            raise _conflict(kind, row, target)
        now = utcnow()
        waived: list[dict[str, Any]] = []
        if target == "approved":
            blockers, settled = approval_blockers(kind, row, principal)
            if blockers:
                raise ApiError(
                    409, "approvalBlocked",
                    f"The {kind.name} cannot be approved: {len(blockers)} requirement"
                    f"{'s are' if len(blockers) != 1 else ' is'} not complete.",
                    attributes={"state": row.state, "blockers": blockers},
                    remediation="Complete the listed requirements first.",
                    errors=blockers,
                )
            # The institution's own remaining tasks: its approval settles them.
            waived = waivers(settled, principal, now)
        values = {
            "state": target,
            "revision": row.revision + 1,
            "active_at": now,
            **kind.on_transition(row, target, now, waived),
        }
        if target in TERMINAL_STATES:
            values["completed_at"] = now
        record = audit_values(kind, row.id, row.state, target, waiver_reason(reason, waived),
                              principal, now, decision_record(kind, row, target, waived))
        event = kind.event({**row.__data__, **values}, events.TRANSITION_TYPES[target],
                           principal, record["reason"], now, previousState=row.state)
        # The change, its audit record and its event: one statement on PostgreSQL.
        if not cas.write(kind.model, row, values, then_insert=(AuditRecord, record),
                         event=event, one_statement=is_postgres()):
            return cas.LOST
        if on_change is not None:
            on_change()
        return sql.as_updated(row, values)  # what reading it back would return

    return cas.retrying(kind.name, load(resource_id), attempt,
                        reload=lambda: load(resource_id), if_match=if_match,
                        max_attempts=max_attempts)
