"""Enrollments in digital banking: creating, updating, deleting, and their requirements.

An enrollment is approved by the financial institution only when its primary
applicant has completed every requirement (:func:`requirements`, plugged into
the state machine as ``Kind.blockers``): identity verified, the digital banking
terms of use and the privacy policy consented to, and every required document
provided.

Who writes what: the applicant writes the applicant data, consents and
documents; the institution (an administrator's token) additionally records
identity verification results, verifications, fraud reports, approvals and
``flaggedForReview`` (the fields in ``SERVER_OWNED``), through the same
``POST``/``PUT``/``PATCH``. In a non-administrator's request those fields are
accepted and ignored: the stored values are kept. ``requiredDocuments`` is set
at creation; afterwards only an administrator may change it, so that an
applicant cannot remove a requirement.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from peewee import EXCLUDED

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import cas, events, lifecycle, store
from accountapps.domain.applications import merge_patch, stamp_consents
from accountapps.domain.collection_query import CollectionSpec, FieldSpec, Page, alternatives
from accountapps.domain.errors import ApiError, IfMatch, precondition_failed
from accountapps.domain.ids import new_id
from accountapps.domain.lifecycle import Action, Kind
from accountapps.domain.workflow import WORKFLOW_STATE_BY_STATE as WORKFLOW_STATE
from accountapps.storage import jsoncodec
from accountapps.storage.db import write_transaction
from accountapps.storage.models import Enrollment, ReviewFlag, utcnow

#: Fields only the institution may set (:func:`policy.may_write_institution_fields`).
SERVER_OWNED = {
    "enrollment": ("approvals", "flaggedForReview"),
    "applicant": ("verification", "approvals", "fraudReport", "verificationToken"),
    "contact": ("identityVerification",),
    "user": ("identityVerification", "customerId"),
}

#: Consents the primary applicant must have given before approval.
REQUIRED_CONSENTS = ("digitalBankingTermsOfUse", "privacyPolicy")

#: A non-administrator's change to any of these invalidates the identity verification.
IDENTITY_FIELDS = ("firstName", "middleName", "lastName", "identification", "birthdate")

#: The parts of an applicant that describe the person, each with its identity fields.
PERSON_PARTS = ("contact", "user")

#: Fraud report outcomes that flag an enrollment for review when they are recorded.
FLAGGING_FRAUD_STATES = ("passedWithRiskFactors", "failed")


# --- requirements --------------------------------------------------------------

def primary_applicant(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``applicant``, or else the first of ``applicants`` (``{}`` when none)."""
    return doc.get("applicant") or next(iter(doc.get("applicants") or []), None) or {}


def identity_verified(applicant: Mapping[str, Any]) -> bool:
    """True when the institution recorded a verified identity and no failed verification."""
    results = [(applicant.get(part) or {}).get("identityVerification") or {}
               for part in PERSON_PARTS]
    verifications = (applicant.get("verification") or {}).get("verifications") or []
    return (any(result.get("state") == "verified" for result in results)
            and not any(result.get("state") == "failed" for result in results)
            and not any(item.get("state") == "failed" for item in verifications))


def _requirement(requirement: str, type: str, message: str, name: str,
                 remediation: str, **attributes: Any) -> dict[str, Any]:
    """One outstanding requirement, shaped as a nested error of ``_embedded.errors``."""
    return {
        "type": type,
        "message": message,
        "attributes": {"requirement": requirement, "name": name, **attributes},
        "remediation": remediation,
    }


def _document_present(required: Mapping[str, Any], documents: list[dict[str, Any]]) -> bool:
    for document in documents:
        if required.get("documentUri") and document.get("uri") == required["documentUri"]:
            return True
        if document.get("type") == required.get("type") and (
                not required.get("category") or document.get("category") in (
                    None, required["category"])):
            return True
    return False


def requirements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every requirement not yet complete (empty: the enrollment may be approved)."""
    applicant = primary_applicant(doc)
    outstanding = []
    verified = identity_verified(applicant)
    if not verified:
        outstanding.append(_requirement(
            "identityVerification", "identityNotVerified",
            "The applicant's identity has not been verified.",
            "applicant.contact.identityVerification",
            "Complete identity verification; the financial institution records the result."))
    given = {consent.get("type") for consent in applicant.get("consents") or []
             if consent.get("state") == "given"}
    for consent_type in REQUIRED_CONSENTS:
        if consent_type not in given:
            outstanding.append(_requirement(
                f"consent:{consent_type}", "consentRequired",
                f"The applicant has not given the {consent_type} consent.",
                "applicant.consents",
                f"Add a consent of type {consent_type} with state given.",
                consentType=consent_type))
    documents = doc.get("documents") or []
    for index, required in enumerate(doc.get("requiredDocuments") or []):
        if not required.get("requireIfVerified", True) and verified:
            continue
        if not _document_present(required, documents):
            label = required.get("label") or required.get("category") or required.get("type")
            outstanding.append(_requirement(
                f"document:{required.get('type')}", "requiredDocumentMissing",
                f"The required document {label!r} has not been provided.",
                f"requiredDocuments[{index}]",
                "Add a document whose type (and category) is the required one, or whose "
                "uri is its documentUri.",
                documentType=required.get("type"), category=required.get("category")))
    return outstanding


# --- the state machine ----------------------------------------------------------

def _on_transition(row: Enrollment, target: str, _now: datetime,
                   _waived: list[dict[str, Any]]) -> dict[str, Any]:
    return {"workflow_state": WORKFLOW_STATE[target]}


def decision_snapshot(row: Enrollment) -> dict[str, Any]:
    """What a decision on ``row`` sees: the applicants (their identity verification
    and consents), the required and provided documents, approvals, the review flag
    and the requirements still open. Unmasked: the representations mask it."""
    doc = jsoncodec.copy_document(row.document)
    snapshot: dict[str, Any] = {
        "state": row.state,
        "revision": row.revision,
        "flaggedForReview": bool(row.flagged_for_review),
        "identityVerified": identity_verified(primary_applicant(doc)),
    }
    if doc.get("applicant"):
        snapshot["applicant"] = doc["applicant"]
    for key in ("applicants", "requiredDocuments", "documents", "approvals"):
        snapshot[key] = doc.get(key) or []
    snapshot["requirements"] = requirements(doc)
    return snapshot


def _event_summary(columns: Mapping[str, Any]) -> dict[str, Any]:
    """What an enrollment's events tell: its state and names, never personal data."""
    return {
        "state": columns["state"], "workflowState": columns.get("workflow_state"),
        "owner": columns.get("owner"), "applicantName": columns.get("applicant_name"),
        "flaggedForReview": bool(columns.get("flagged_for_review")),
    }


KIND = Kind(
    name="enrollment",
    model=Enrollment,
    param="enrollment",
    path="/enrollments",
    actions={
        "rejected": Action("reject", "rejected", "/rejectedEnrollments", policy.INSTITUTION,
                           "rejectEnrollment",
                           "Reject an enrollment (the financial institution only)."),
        "approved": Action("approve", "approved", "/approvedEnrollments", policy.INSTITUTION,
                           "approveEnrollment", "Approve an enrollment whose requirements are "
                           "complete (the financial institution only)."),
    },
    blockers=lambda row: requirements(row.document),
    on_transition=_on_transition,
    snapshot=decision_snapshot,
    event_summary=_event_summary,
)

STATES = tuple(lifecycle.TRANSITIONS)

COLLECTION = CollectionSpec(
    name="enrollments",
    columns=(Enrollment.id, Enrollment.applicant_name, Enrollment.username, Enrollment.state,
             Enrollment.flagged_for_review, Enrollment.created_at, Enrollment.completed_at),
    fields={
        "applicantName": FieldSpec(Enrollment.applicant_name),
        "username": FieldSpec(Enrollment.username),
        "state": FieldSpec(Enrollment.state, "enum", STATES),
        "workflowState": FieldSpec(Enrollment.workflow_state),
        "flaggedForReview": FieldSpec(Enrollment.flagged_for_review, "boolean"),
        "createdAt": FieldSpec(Enrollment.created_at, "datetime"),
        "completedAt": FieldSpec(Enrollment.completed_at, "datetime"),
    },
    search_fields=("applicantName", "username"),
    default_sort=("-createdAt",),
    tiebreak=Enrollment.id,
    extra_params=("state", "name", "flaggedForReview"),
)


# --- the document ----------------------------------------------------------------

def _applicant_key(applicant: Mapping[str, Any], index: int) -> Any:
    contact = applicant.get("contact") or {}
    return contact.get("_id") or applicant.get("username") or index


def identity_of(applicant: Mapping[str, Any] | None) -> dict[tuple[str, str], Any]:
    """What an identity verification vouches for: the identity fields of contact and user.

    Both parts describe the one applicant, and a verification may be recorded on
    either (:func:`identity_verified` accepts both), so it vouches for both.
    """
    applicant = applicant or {}
    return {(part, key): (applicant.get(part) or {}).get(key)
            for part in PERSON_PARTS for key in IDENTITY_FIELDS}


def _revert_server_owned(incoming: dict[str, Any], stored: Mapping[str, Any]) -> None:
    """Server-owned fields of ``incoming`` become the stored ones (absent if none)."""
    for part in PERSON_PARTS:
        new_part = incoming.get(part)
        old_part = stored.get(part) or {}
        if not isinstance(new_part, dict):
            continue
        for key in SERVER_OWNED[part]:
            new_part.pop(key, None)
            if key in old_part:
                new_part[key] = copy.deepcopy(old_part[key])
    for key in SERVER_OWNED["applicant"]:
        incoming.pop(key, None)
        if key in stored:
            incoming[key] = copy.deepcopy(stored[key])


def _drop_verification(applicant: dict[str, Any]) -> None:
    """Remove every identity verification result recorded for ``applicant``."""
    for part in PERSON_PARTS:
        (applicant.get(part) or {}).pop("identityVerification", None)
    applicant.pop("verification", None)
    applicant.pop("verificationToken", None)


def _keep_server_owned(incoming: dict[str, Any], stored: Mapping[str, Any] | None) -> None:
    """A non-administrator's applicant: server-owned fields revert to the stored ones,
    and the verification is dropped if the verified identity changed."""
    stored = stored or {}
    _revert_server_owned(incoming, stored)
    # A verification vouches for the person who was verified, not for a new one:
    # a change to the contact's or the user's identity voids it, wherever it is
    # recorded. Masked values sent back were restored before: they are no change.
    if identity_of(incoming) != identity_of(stored):
        _drop_verification(incoming)


def _stamp(applicant: dict[str, Any], stored: Mapping[str, Any] | None, user_id: str,
           now: datetime) -> None:
    applicant["consents"] = stamp_consents(
        applicant.get("consents"), (stored or {}).get("consents"), user_id, now)
    applicant["verified"] = identity_verified(applicant)


def _document(data: Mapping[str, Any], stored: Mapping[str, Any], principal: Principal,
              owner: str, now: datetime) -> dict[str, Any]:
    """The document to store: ``data`` (validated) with ownership rules applied."""
    admin = policy.may_write_institution_fields(principal)
    doc: dict[str, Any] = {
        key: copy.deepcopy(data[key])
        for key in ("applicant", "applicants", "requiredDocuments", "documents", "approvals")
        if data.get(key) is not None
    }
    if not admin:
        doc.pop("approvals", None)
        if stored.get("approvals"):
            doc["approvals"] = copy.deepcopy(stored["approvals"])
        if stored:  # after creation, required documents are the institution's
            doc.pop("requiredDocuments", None)
            if stored.get("requiredDocuments"):
                doc["requiredDocuments"] = copy.deepcopy(stored["requiredDocuments"])
    old_applicants = {_applicant_key(item, index): item
                      for index, item in enumerate(stored.get("applicants") or [])}
    if doc.get("applicant"):
        if not admin:
            _keep_server_owned(doc["applicant"], stored.get("applicant"))
        _stamp(doc["applicant"], stored.get("applicant"), owner, now)
    for index, applicant in enumerate(doc.get("applicants") or []):
        old = old_applicants.get(_applicant_key(applicant, index))
        if not admin:
            _keep_server_owned(applicant, old)
        _stamp(applicant, old, owner, now)
    return doc


def _flagged(body: Any, doc: Mapping[str, Any], stored: Mapping[str, Any],
             principal: Principal, current: bool) -> bool:
    """``flaggedForReview``: as an administrator's ``body`` sets it, else raised when a
    fraud report with risk factors (or failed) is recorded, else unchanged."""
    if policy.may_write_institution_fields(principal) and isinstance(body, Mapping) and isinstance(
            body.get("flaggedForReview"), bool):
        return body["flaggedForReview"]

    def fraud_state(source: Mapping[str, Any]) -> Any:
        report = primary_applicant(source).get("fraudReport") or {}
        return (report.get("outputs") or {}).get("state")

    new_state = fraud_state(doc)
    if new_state in FLAGGING_FRAUD_STATES and new_state != fraud_state(stored):
        return True
    return current


def _columns(doc: Mapping[str, Any]) -> dict[str, Any]:
    applicant = primary_applicant(doc)
    names = []
    for part in ("contact", "user"):
        person = applicant.get(part) or {}
        names = [name for name in (person.get("firstName"), person.get("lastName")) if name]
        if names:
            break
    return {
        "applicant_name": " ".join(names)[:255] or None,
        "username": (applicant.get("username") or (applicant.get("user") or {}).get(
            "username") or None),
    }


# --- operations -------------------------------------------------------------------

def page(principal: Principal, query: Mapping[str, str], *, max_limit: int) -> Page:
    """getEnrollments: one page, as ``principal`` sees it.

    Besides the common parameters: ``state``, ``name`` (``a|b``: any of these)
    and ``flaggedForReview`` (``true|false``).
    """
    where = []
    states = alternatives(query, "state", STATES)
    if states is not None:
        where.append(Enrollment.state.in_(states))
    names = alternatives(query, "name")
    if names is not None:
        where.append(Enrollment.applicant_name.in_(names))
    flagged = alternatives(query, "flaggedForReview", ("true", "false"))
    if flagged is not None:
        where.append(Enrollment.flagged_for_review.in_([value == "true" for value in flagged]))
    return store.page(KIND, COLLECTION, principal, query, max_limit=max_limit, where=where)


def inherited_flag(owner: str) -> tuple[bool, str | None]:
    """The ``flaggedForReview`` that ``owner``'s next enrollment starts with, and the
    enrollment it comes from: that of their latest enrollment, deleted or not."""
    latest = (Enrollment.select(Enrollment.id, Enrollment.flagged_for_review,
                                Enrollment.created_at)
              .where(Enrollment.owner == owner)
              .order_by(Enrollment.created_at.desc(), Enrollment.id.desc()).first())
    carried = ReviewFlag.get_or_none(ReviewFlag.owner == owner)
    if carried is not None and (latest is None
                                or carried.enrollment_created_at >= latest.created_at):
        return bool(carried.flagged), carried.enrollment_id
    if latest is not None:
        return bool(latest.flagged_for_review), latest.id
    return False, None


def _carry_flag(row: Enrollment, now: datetime) -> None:
    """Keep the review flag of ``row``, being deleted, for the owner's next enrollment
    (unless a later-created enrollment of theirs was deleted before it)."""
    ReviewFlag.insert(
        owner=row.owner, flagged=bool(row.flagged_for_review), enrollment_id=row.id,
        enrollment_created_at=row.created_at, recorded_at=now,
    ).on_conflict(
        conflict_target=[ReviewFlag.owner],
        update={ReviewFlag.flagged: EXCLUDED.flagged,
                ReviewFlag.enrollment_id: EXCLUDED.enrollment_id,
                ReviewFlag.enrollment_created_at: EXCLUDED.enrollment_created_at,
                ReviewFlag.recorded_at: EXCLUDED.recorded_at},
        where=EXCLUDED.enrollment_created_at >= ReviewFlag.enrollment_created_at,
    ).execute()


def create(principal: Principal, data: dict[str, Any]) -> Enrollment:
    """createEnrollment: ``data`` is the validated body.

    A user flagged for review stays flagged: the new enrollment inherits the flag
    of the user's latest enrollment, even a deleted one (:func:`inherited_flag`).
    """
    now = utcnow()
    doc = _document(data, {}, principal, principal.user_id, now)
    enrollment_id = new_id()
    def insert() -> Enrollment:
        with write_transaction():
            inherited, source = inherited_flag(principal.user_id)
            flagged = _flagged(data, doc, {}, principal, inherited)
            reason = "Enrollment created."
            if flagged and inherited:
                reason += f" Flagged for review, as the user's enrollment {source} was."
            row = Enrollment.create(
                id=enrollment_id, owner=principal.user_id, client_id=principal.client_id,
                state="running", workflow_state="running", flagged_for_review=flagged,
                created_at=now, active_at=now, revision=1, document=doc, **_columns(doc),
            )
            lifecycle.audit(KIND, enrollment_id, None, "running", reason, principal, now)
            events.record(KIND.event(row.__data__, "created", principal, reason, now))
        return row

    return store.create_in_progress(KIND, principal, insert,
                                    "it must be completed or deleted first.")



def client_view(row: Enrollment) -> dict[str, Any]:
    """The writable fields as stored (what a PATCH merges into)."""
    view = jsoncodec.copy_document(row.document)
    view["flaggedForReview"] = bool(row.flagged_for_review)
    return view


def update(principal: Principal, row: Enrollment, body: Any, if_match: IfMatch, *,
           partial: bool, load: store.Loader) -> Enrollment:
    """updateEnrollment (``partial=False``, a replacement) or patchEnrollment (a merge patch).

    ``load`` validates the document to be stored against the stored one (see
    :data:`store.Loader`).
    """

    def compute(current: Enrollment) -> dict[str, Any]:
        stored = client_view(current)
        incoming = merge_patch(stored, body) if partial else copy.deepcopy(body)
        data = load(incoming, stored)
        doc = _document(data, current.document, principal, current.owner, utcnow())
        flagged = _flagged(body, doc, current.document, principal,
                           bool(current.flagged_for_review))
        return {"document": doc, "flagged_for_review": flagged, **_columns(doc)}

    return store.cas_update(KIND, row, if_match, compute,
                            reload=lambda: store.fetch(KIND, row.id), principal=principal,
                            change=_update_event)


def _verification_results(doc: Mapping[str, Any]) -> list[Any]:
    """The identity-verification results recorded for the primary applicant."""
    applicant = primary_applicant(doc)
    return [*((applicant.get(part) or {}).get("identityVerification") for part in PERSON_PARTS),
            applicant.get("verification")]


def _update_event(current: Enrollment, values: Mapping[str, Any]) -> str:
    """An update's event: flagged for review, an identity verification recorded, or updated."""
    if values.get("flagged_for_review") and not current.flagged_for_review:
        return "flaggedForReview"
    before, after = _verification_results(current.document), _verification_results(
        values["document"])
    if after != before and any(result for result in after):
        return "identityVerificationRecorded"
    return "updated"


def delete(principal: Principal, row: Enrollment, if_match: IfMatch | None) -> None:
    """deleteEnrollment: the enrollment and everything it owns (its documents, consents),
    in every state (the reference gives no other outcome than ``204``).

    What outlives it, written in the same transaction: the audit trail, which
    records the deletion (auditors still read it), and the review flag, which
    the owner's next enrollment inherits.
    """
    if not policy.may_delete_enrollment(principal, row):
        raise store.not_found(KIND, row.id)
    if if_match is not None and not if_match.accepts(row.revision):
        raise precondition_failed()
    now = utcnow()
    event = KIND.event(row.__data__, "deleted", principal, "Enrollment deleted.", now,
                       deleted=True)

    def then() -> None:
        _carry_flag(row, now)
        reason = "Enrollment deleted." + (" It was flagged for review; the flag is kept for "
                                          "the user's next enrollment."
                                          if row.flagged_for_review else "")
        lifecycle.audit(KIND, row.id, row.state, "deleted", reason, principal, now)

    if not cas.write(Enrollment, row, None, event=event, then=then):
        raise precondition_failed() if if_match is not None else ApiError(
            409, "concurrentModification", "The enrollment changed while deleting it; retry.")
