"""Account applications: creating, replacing, patching and deleting them.

Views in :mod:`accountapps.resources.applications` call these functions; they
validate references against the catalog, derive the server-owned fields, and
write through :mod:`accountapps.domain.store` (compare-and-set) and
:mod:`accountapps.domain.lifecycle` (state changes).
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import cas, catalog, events, lifecycle, store, workflow
from accountapps.domain.collection_query import CollectionSpec, FieldSpec, Page, alternatives
from accountapps.domain.errors import (
    ApiError,
    IfMatch,
    field_error,
    precondition_failed,
    validation_error,
)
from accountapps.domain.ids import new_id
from accountapps.domain.lifecycle import Action, Kind
from accountapps.domain.masking import is_masked
from accountapps.storage import jsoncodec, sql
from accountapps.storage.db import write_transaction
from accountapps.storage.models import Application, ApplicationApplicant, timestamp, utcnow

#: The fields a client writes (everything else in the representation is ours).
WRITABLE = ("accountName", "applicantType", "country", "fundingAmount", "fundingAccount",
            "organization", "applicants", "products", "documents", "consents")
#: Who applies (the product's requirements depend on it): kept when an update leaves it out.
PROFILE = ("applicantType", "country")
#: a profile problem -> the type of the nested error naming the field
_PROFILE_ERRORS = {workflow.MALFORMED: "invalidField", workflow.NOT_OFFERED: "productNotOffered"}

APPROVAL_TYPE = {
    "_id": "bd10a515-5da8-40ec-bd4a-f60e958a297b",
    "name": "accountApplication",
    "label": "Account Application",
    "domain": "https://api.apiture.com/approvals",
}

#: The states the institution may seed an application in: the usual start, or
#: a decision (or end) reached elsewhere ("pre-approved" applications).
SEEDABLE_STATES = ("running", "approved", "rejected", "canceled", "expired")


def _on_transition(row: Application, target: str, now: datetime,
                   waived: list[dict[str, Any]]) -> dict[str, Any]:
    doc = jsoncodec.copy_document(row.document)
    approval = doc.get("accountApproval")
    if approval and target in lifecycle.TERMINAL_STATES:
        approval["state"] = {"approved": "approved", "rejected": "rejected"}.get(
            target, "canceled")
        approval["done"] = True
        approval["updatedAt"] = timestamp(now)
    if waived:  # the tasks show who settled them (workflow.evaluate)
        doc["waivers"] = [*(doc.get("waivers") or []), *waived]
    return {"document": doc, "workflow_state": workflow.workflow_state(doc, target)}


def decision_snapshot(row: Application) -> dict[str, Any]:
    """What a decision on ``row`` sees: the product and its workflow version, funding,
    the applicants with their identity verification, consents, documents, and what
    still blocked approval. Unmasked: the representations mask it for their reader."""
    doc = jsoncodec.copy_document(row.document)
    definition = workflow.definition_of(doc)
    snapshot: dict[str, Any] = {
        "state": row.state,
        "workflowState": row.workflow_state,
        "revision": row.revision,
        "product": {"_id": row.product_id, "name": row.product_name,
                    "workflow": {"_id": definition.get("_id"),
                                 "version": definition.get("version")}},
        "accountName": row.account_name,
    }
    for key in ("fundingAmount", "fundingAccount", "organization"):
        if doc.get(key):
            snapshot[key] = doc[key]
    snapshot["applicants"] = [
        {**applicant, "identityVerification": workflow.identity_verification(doc, applicant)}
        for applicant in doc.get("applicants") or []]
    snapshot["consents"] = doc.get("consents") or []
    snapshot["documents"] = doc.get("documents") or []
    snapshot["blockers"] = jsoncodec.copy_document(
        workflow.evaluation(row.document, row.state).blockers)
    return snapshot


def _event_summary(columns: Mapping[str, Any]) -> dict[str, Any]:
    """What an application's events tell: its state and names, never personal data."""
    return {
        "state": columns["state"], "workflowState": columns.get("workflow_state"),
        "owner": columns.get("owner"), "productId": columns.get("product_id"),
        "productName": columns.get("product_name"), "accountName": columns.get("account_name"),
        "applicantName": columns.get("applicant_name"),
        "organizationName": columns.get("organization_name"),
    }


KIND = Kind(
    name="application",
    model=Application,
    param="application",
    path="/applications",
    actions={
        "expired": Action("expire", "expired", "/expiredApplications", policy.INSTITUTION,
                          "expireApplication", "Expire an application."),
        "rejected": Action("reject", "rejected", "/rejectedApplications", policy.INSTITUTION,
                           "rejectApplication", "Reject an application."),
        "approved": Action("approve", "approved", "/approvedApplications", policy.INSTITUTION,
                           "approveApplication", "Approve an application."),
        "canceled": Action("cancel", "canceled", "/canceledApplications", policy.OWNER,
                           "cancelApplication", "Cancel an application."),
        "running": Action("start", "running", "/runningApplications", policy.INSTITUTION,
                          "startApplication", "Start an application."),
    },
    on_transition=_on_transition,
    blockers=workflow.approval_blockers,
    snapshot=decision_snapshot,
    views={"running": "/runningApplications", "blocked": "/blockedApplications"},
    event_summary=_event_summary,
)

STATES = tuple(lifecycle.TRANSITIONS)

COLLECTION = CollectionSpec(
    name="applications",
    columns=(Application.id, Application.account_name, Application.applicant_name,
             Application.product_name, Application.organization_name, Application.state,
             Application.created_at, Application.completed_at),
    fields={
        "accountName": FieldSpec(Application.account_name),
        "applicantName": FieldSpec(Application.applicant_name),
        "productName": FieldSpec(Application.product_name),
        "organizationName": FieldSpec(Application.organization_name),
        "state": FieldSpec(Application.state, "enum", STATES),
        "createdAt": FieldSpec(Application.created_at, "datetime"),
        "completedAt": FieldSpec(Application.completed_at, "datetime"),
    },
    search_fields=("accountName", "applicantName", "productName", "organizationName"),
    default_sort=("-createdAt",),
    tiebreak=Application.id,
    extra_params=("state", "name", "applicant"),
)


# --- derived fields ----------------------------------------------------------

def _href(links: Mapping[str, Any] | None, rel: str) -> str | None:
    link = (links or {}).get(rel)
    return link.get("href") if isinstance(link, Mapping) else None


def _applicant_name(doc: Mapping[str, Any]) -> str | None:
    for applicant in doc.get("applicants") or []:
        contact = applicant.get("contact") or {}
        name = " ".join(
            part for part in (contact.get("firstName"), contact.get("lastName")) if part)
        if name:
            return name[:255]  # the column's width; the full names stay in the document
    return None


def _contact_uris(doc: Mapping[str, Any]) -> list[str]:
    uris = []
    for applicant in doc.get("applicants") or []:
        href = _href((applicant.get("contact") or {}).get("_links"), "self")
        if href and href not in uris:
            uris.append(href)
    return uris


def _resolve_products(doc: Mapping[str, Any]) -> None:
    """Every ``products[]`` entry must name a catalog product (``422``)."""
    errors = []
    for index, item in enumerate(doc.get("products") or []):
        href = _href(item.get("_links"), "self")
        product = catalog.resolve(href) if href else None
        if product is None:
            errors.append(field_error(
                f"products[{index}]._links.self", "is not a product of this institution.",
                "unknownProduct", value=href))
        elif not item.get("name"):
            item["name"] = product.name
    if errors:
        raise validation_error(errors, 422)


def _settle_profile(doc: dict[str, Any], definition: Mapping[str, Any]) -> None:
    """Check who applies against the product's offer (as snapshotted), and fill in what
    it implies: the product's only applicant type or country (``400`` when it has
    several and none is given, ``422`` when the product is not offered to it)."""
    try:
        profile = workflow.applicant_profile(definition, doc.get("applicantType"),
                                             doc.get("country"))
    except workflow.ProfileError as exc:
        kind = _PROFILE_ERRORS.get(exc.reason, f"{exc.name}Required")
        raise validation_error([field_error(exc.name, exc.message, kind, offered=exc.offered)],
                               exc.status) from exc
    for key, value in zip(PROFILE, (profile.applicant_type, profile.country), strict=True):
        if value is not None:
            doc[key] = value


def _columns(doc: Mapping[str, Any], product_name: str) -> dict[str, Any]:
    organization = doc.get("organization") or {}
    return {
        "account_name": doc.get("accountName") or f"My {product_name}",
        "applicant_name": _applicant_name(doc),
        "product_name": product_name,
        "organization_name": organization.get("name"),
    }


def _enrich(doc: dict[str, Any], previous: Mapping[str, Any], principal: Principal,
            now: datetime) -> None:
    """Add the server-owned parts of applicants, documents and consents, keeping earlier ones."""
    _identify_applicants(doc, previous)
    old_documents = {d.get("_id"): d for d in previous.get("documents") or []}
    documents = []
    for item in doc.get("documents") or []:
        old = old_documents.get(item.get("_id"))
        # A review covers the document as reviewed: other content is a new submission.
        if old is not None and all(old.get(k) == item.get(k) for k in _DOCUMENT_CONTENT):
            server = {k: old[k] for k in ("state", "createdAt", "reviewedAt", "reviewReason")
                      if k in old}
            documents.append({**item, **server})
        else:
            documents.append({**item, "_id": str(uuid.uuid4()), "state": "pending",
                              "createdAt": timestamp(now)})
    doc["documents"] = documents
    doc["consents"] = stamp_consents(doc.get("consents"), previous.get("consents"),
                                     principal.user_id, now)


def stamp_consents(items: list[dict[str, Any]] | None, previous: list[dict[str, Any]] | None,
                   user_id: str, now: datetime) -> list[dict[str, Any]]:
    """Consents with their server-owned ``_id``, ``givenAt`` and ``userId``.

    A consent whose type and state are unchanged keeps its stamp; a new or
    changed one is stamped now, by ``user_id`` (applications and enrollments).
    """
    old_consents = {c.get("type"): c for c in previous or []}
    consents = []
    for item in items or []:
        old = old_consents.get(item["type"])
        if old is not None and old.get("state") == item.get("state"):
            consents.append({**item, "_id": old["_id"], "givenAt": old.get("givenAt"),
                             "userId": old.get("userId")})
        else:
            consents.append({**item, "_id": str(uuid.uuid4()), "userId": user_id,
                             "givenAt": timestamp(now)})
    return consents


_DOCUMENT_CONTENT = ("type", "uri", "contentType", "_links")


def _contact_href(applicant: Mapping[str, Any]) -> str | None:
    return _href((applicant.get("contact") or {}).get("_links"), "self")


def _identify_applicants(doc: dict[str, Any], previous: Mapping[str, Any]) -> None:
    """Give each applicant a stable ``_id`` (identity verifications refer to it).

    A client sends back the ``_id`` it read; an applicant sent without one keeps
    the ``_id`` of the earlier applicant with the same contact URI, if any.
    """
    old = [a for a in previous.get("applicants") or [] if a.get("_id")]
    by_id = {a["_id"]: a for a in old}
    by_contact = {_contact_href(a): a["_id"] for a in old if _contact_href(a)}
    used: set[str] = set()
    applicants = []
    for applicant in doc.get("applicants") or []:
        wanted = applicant.get("_id")
        if wanted not in by_id or wanted in used:
            wanted = by_contact.get(_contact_href(applicant) or "")
        if wanted is None or wanted in used:
            wanted = str(uuid.uuid4())
        used.add(wanted)
        applicants.append({"_id": wanted, **{k: v for k, v in applicant.items() if k != "_id"}})
    if "applicants" in doc:
        doc["applicants"] = applicants


def _refuse_masked(doc: Mapping[str, Any]) -> None:
    """A masked value that stands for no stored value is not data (``400``)."""
    errors = []
    numbers = ((doc.get("fundingAccount") or {}).get("accountNumbers") or {})
    if is_masked(numbers.get("full")):
        errors.append(field_error("fundingAccount.accountNumbers.full",
                                  "a masked number can only be sent back unchanged."))
    if is_masked((doc.get("organization") or {}).get("taxId")):
        errors.append(field_error("organization.taxId",
                                  "a masked tax id can only be sent back unchanged."))
    if errors:
        raise validation_error(errors, 400)


# --- operations --------------------------------------------------------------

def page(principal: Principal, query: Mapping[str, str], *, max_limit: int,
         state: str | None = None) -> Page:
    """getApplications and the state views (``state``): one page, as ``principal`` sees it.

    Besides the common parameters: ``state`` and ``name`` (``a|b``: any of
    these) and ``applicant`` (a contact URI).
    """
    where = [] if state is None else [Application.state == state]
    states = alternatives(query, "state", STATES)
    if states is not None:
        where.append(Application.state.in_(states))
    names = alternatives(query, "name")
    if names is not None:
        where.append(Application.account_name.in_(names))
    if query.get("applicant"):
        where.append(Application.id.in_(
            ApplicationApplicant.select(ApplicationApplicant.application_id).where(
                ApplicationApplicant.contact_uri == query["applicant"])))
    return store.page(KIND, COLLECTION, principal, query, max_limit=max_limit, where=where)


def _seed_state(principal: Principal, data: Mapping[str, Any]) -> str:
    """The state a new application starts in: ``running``, or the institution's
    ``state`` in the body (:data:`SEEDABLE_STATES`). Anyone else's is ignored."""
    wanted = data.get("state")
    if wanted is None or not policy.may_seed(principal):
        return "running"
    if wanted not in SEEDABLE_STATES:
        raise validation_error([field_error(
            "state", f"an application can be seeded only as one of {', '.join(SEEDABLE_STATES)}.",
            "invalidSeedState", value=wanted)], 400)
    return wanted


def _seed(principal: Principal, values: dict[str, Any], state: str, now: datetime
          ) -> tuple[str, dict[str, Any] | None]:
    """Turn the new application's ``values`` into one seeded in ``state`` (terminal).

    Its decision is made now, by the seeding caller: an approval settles every
    remaining task (the external source decided), each recorded as waived.
    Returns the audit record's reason and decision.
    """
    created = Application(**values)
    waived = (lifecycle.waivers(KIND.blockers(created), principal, now)
              if state == "approved" else [])
    decision = lifecycle.decision_record(KIND, created, state, waived)
    values.update(state=state, completed_at=now, **_on_transition(created, state, now, waived))
    reason = (f"Application seeded as {state} by {principal.user_id}: initial data from an "
              "external source.")
    return lifecycle.waiver_reason(reason, waived) or reason, decision


def create(principal: Principal, data: dict[str, Any]) -> Application:
    """createApplication: ``data`` is the validated body.

    The institution may seed it (:func:`policy.may_seed`): ``state`` in the body
    then names the state it starts in, a decision such as ``approved`` included.
    """
    state = _seed_state(principal, data)
    links = data.get("_links") or {}
    product_ref = _href(links, "apiture:product")
    if product_ref is None and data.get("products"):
        product_ref = _href(data["products"][0].get("_links"), "self")
    if product_ref is None:
        raise validation_error([field_error(
            "_links.apiture:product", "is required: name the banking product to apply for.",
            "productRequired")], 400)
    product = catalog.resolve(product_ref)
    if product is None:
        raise validation_error([field_error(
            "_links.apiture:product", "is not a product of this institution.",
            "unknownProduct", value=product_ref)], 422)
    # ``data`` is this request's freshly loaded body: nothing else refers to it.
    doc: dict[str, Any] = {key: data[key] for key in WRITABLE if key in data}
    _refuse_masked(doc)
    _resolve_products(doc)
    definition = workflow.snapshot(product)
    _settle_profile(doc, definition)
    now = utcnow()
    _enrich(doc, {}, principal, now)
    app_id = new_id()
    columns = _columns(doc, product.name)
    doc["workflowId"] = str(uuid.uuid4())
    doc["workflow"] = definition
    doc["links"] = {
        "fundingAccount": _href(links, "apiture:fundingAccount"),
        "organization": _href(links, "apiture:organization")
        or _href((doc.get("organization") or {}).get("_links"), "self"),
        "applicant": _href(links, "apiture:applicant") or next(iter(_contact_uris(doc)), None),
    }
    doc["accountApproval"] = {
        "_id": str(uuid.uuid4()),
        "label": f"Account Approval: {product.name}, {columns['applicant_name'] or 'applicant'}",
        "state": "open",
        "done": False,
        "typeName": APPROVAL_TYPE["name"],
        "type": APPROVAL_TYPE,
        "createdAt": timestamp(now),
    }
    values = dict(
        id=app_id, owner=principal.user_id, client_id=principal.client_id,
        product_id=product.id, state="running",
        workflow_state=workflow.workflow_state(doc, "running"),
        created_at=now, active_at=now, revision=1, document=doc, **columns,
    )
    reason, decision = "Application created.", None
    if state != "running":
        reason, decision = _seed(principal, values, state, now)

    def insert() -> None:
        with write_transaction():
            sql.insert(Application, values)
            _save_contacts(app_id, values["document"], replace=False)
            lifecycle.audit(KIND, app_id, None, state, reason, principal, now, decision)
            events.record(KIND.event(values, "created", principal, reason, now))

    store.create_in_progress(KIND, principal, insert, "finish or cancel it first.")
    # The row as inserted (nothing in the database adds to it): no need to read it back.
    return workflow.settle(KIND, app_id, "Application created.", row=Application(**values))



def _save_contacts(app_id: str, doc: Mapping[str, Any], *, replace: bool = True) -> None:
    if replace:  # a new application has none to delete: spare the statement
        ApplicationApplicant.delete().where(
            ApplicationApplicant.application_id == app_id).execute()
    for uri in _contact_uris(doc):  # usually one: cheaper than peewee's insert_many
        sql.insert(ApplicationApplicant, {"application_id": app_id, "contact_uri": uri[:1024]})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, ``null`` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _writable(doc: Mapping[str, Any]) -> dict[str, Any]:
    return jsoncodec.copy_document(
        {key: doc[key] for key in WRITABLE if doc.get(key) is not None})


def update(principal: Principal, row: Application, body: Any, if_match: IfMatch,
           *, partial: bool, load: store.Loader) -> Application:
    """updateApplication (``partial=False``, a replacement) or patchApplication.

    ``load`` validates the document to be stored (the body, or the body merged
    into the stored document) against the stored one; it raises the ``400``.
    """

    contacts_before: list[list[str]] = []

    def compute(current: Application) -> dict[str, Any]:
        stored = current.document
        contacts_before[:] = [_contact_uris(stored)]
        incoming = merge_patch(_writable(stored), body) if partial else copy.deepcopy(body)
        data = load(incoming, stored)
        # An empty object is an absent one: the representation shows a missing
        # organization as {}, and a client sending it back changes nothing.
        doc = {key: data[key] for key in WRITABLE if data.get(key) not in (None, {})}
        _refuse_masked(doc)
        _resolve_products(doc)
        for key in PROFILE:
            if key not in doc and stored.get(key) is not None:
                doc[key] = stored[key]
        _settle_profile(doc, workflow.definition_of(stored))
        _enrich(doc, stored, principal, utcnow())
        for key in ("workflowId", "links", "accountApproval", "workflow",
                    "identityVerifications"):
            if key in stored:
                doc[key] = stored[key]
        if doc["links"].get("applicant") in _contact_uris(stored) or not doc["links"].get(
                "applicant"):
            doc["links"]["applicant"] = next(iter(_contact_uris(doc)), None)
        # The product is fixed at creation: its name is kept even if the catalog changes.
        return {"document": doc, **_columns(doc, current.product_name or ""),
                "workflow_state": workflow.workflow_state(doc, current.state)}

    row = store.cas_update(
        KIND, row, if_match, compute,
        reload=lambda: store.fetch(KIND, row.id), principal=principal,
        # The contact index changes only when the applicants' contacts do.
        also=lambda values: None if _contact_uris(values["document"]) == contacts_before[0]
        else functools.partial(_save_contacts, row.id, values["document"]),
    )
    return workflow.settle(KIND, row.id, f"Application updated by {principal.user_id}.",
                           row=row)


def delete(principal: Principal, row: Application, if_match: IfMatch) -> None:
    """deleteApplication: the applicant while ``pending``, the institution while ``expired``."""
    if not policy.may_delete_application(principal, row):
        raise ApiError(
            409, "deleteNotAllowed",
            f"The application is {row.state}; only a pending application can be deleted by "
            "its applicant, and only an expired one by the financial institution.",
            attributes={"state": row.state},
        )
    if not if_match.accepts(row.revision):
        raise precondition_failed()

    now = utcnow()

    def then() -> None:
        ApplicationApplicant.delete().where(
            ApplicationApplicant.application_id == row.id).execute()
        # The trail outlives the application and says who removed it (as for enrollments).
        lifecycle.audit(KIND, row.id, row.state, "deleted", "Application deleted.",
                        principal, now)

    event = KIND.event(row.__data__, "deleted", principal, "Application deleted.", now,
                       deleted=True)
    if not cas.write(Application, row, None, then=then, event=event):
        raise precondition_failed()
