"""Product workflows: the tasks that open an account, and what still blocks it.

A product's workflow definition (catalog data) is an ordered list of tasks, each
with the party that completes it (``applicant`` or ``institution``), a
completion rule (its ``type``) and, optionally, the applicants it applies to
(its ``when``: applicant types, countries). Creating an application snapshots
the definition, with the product's offer, into the application
(``document.workflow``), so the institution can change its catalog without
changing the rules of applications already running.

:func:`plan` alone decides what a workflow requires of an applicant (a
:class:`Profile`: applicant type and country): the product's requirements
resource lists it before anyone applies, and :func:`evaluate` checks exactly
it, so a form built from the requirements asks what approval will need.

No task state is ever stored: :func:`evaluate` derives every task's state, the
approval blockers, the next action and ``workflowState`` from the application's
stored data each time. The institution's own inputs are stored facts too:
identity-verification results (:func:`record_identity_verification`) and
document reviews (:func:`review_document`), both administrator-only.

:func:`settle` is the automatic block/unblock. It runs after every write: an
application whose remaining tasks all wait on the institution becomes
``blocked``; one that has something for the applicant to do again, or nothing
left to review, becomes ``running`` — each time through
:func:`lifecycle.transition` (so the audit trail records it, with its cause).
The final account approval is the institution's decision, not a wait: an
application with only the approval left is ``running`` and carries
``apiture:approve``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import has_request_context, request

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import lifecycle, store
from accountapps.domain.errors import ApiError, IfMatch, field_error, validation_error
from accountapps.domain.lifecycle import Kind
from accountapps.storage import jsoncodec
from accountapps.storage.models import timestamp, utcnow

#: The consents a product may require (a workflow task of kind "consent").
CONSENT_TYPES = (
    "productTermsAndConditions",
    "electronicConsent",
    "privacyPolicy",
    "digitalBankingTermsOfUse",
    "overdraftProtection",
)

APPLICANT, INSTITUTION = "applicant", "institution"
DONE, PENDING, WAITING = "done", "pending", "waiting"

#: task type -> the party whose action completes it (its completion rule is below)
TASK_TYPES: dict[str, str] = {
    "organization": APPLICANT,
    "relatedParties": APPLICANT,
    "funding": APPLICANT,
    "consent": APPLICANT,
    "document": APPLICANT,
    "documentReview": INSTITUTION,
    "identityVerification": INSTITUTION,
    "accountApproval": INSTITUTION,
}
APPROVAL = "accountApproval"
ORGANIZATION_FIELDS = ("name", "type", "taxId")

#: workflowState by state alone, for resources without a product workflow (enrollments);
#: applications use it for their final (and reserved) states only.
WORKFLOW_STATE_BY_STATE = {
    "running": "running", "blocked": "running", "pending": "pending",
    "approved": "completed", "canceled": "canceled", "expired": "canceled",
    "rejected": "canceled",
}
_FINAL_WORKFLOW_STATE = {state: value for state, value in WORKFLOW_STATE_BY_STATE.items()
                         if state not in lifecycle.INCOMPLETE_STATES}

_ANY = IfMatch(any=True, revisions=frozenset())


# --- definitions ---------------------------------------------------------------

#: Who may apply: a person, or a business (represented by its related parties).
APPLICANT_TYPES = ("individual", "business")
#: The conditions of a task (its ``when``): it applies only to these applicant types,
#: only in these countries, or in every country but these.
CONDITIONS = ("applicantTypes", "countries", "exceptCountries")
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")


def is_country_code(value: Any) -> bool:
    """True for an ISO 3166-1 alpha-2 shaped code (two capital letters, ``US``)."""
    return isinstance(value, str) and bool(_COUNTRY_CODE.match(value))


def validate_definition(definition: Any, source: str, *,
                        applicant_types: tuple[str, ...] | list[str] = APPLICANT_TYPES,
                        countries: tuple[str, ...] | list[str] | None = None) -> dict[str, Any]:
    """Check a catalog workflow definition; return it. ``ValueError`` names the problem.

    A catalog with a bad workflow must stop the service at start-up, not strand
    applications later. ``applicant_types`` and ``countries`` are the product's
    offer: a task's ``when`` may only narrow it (a condition naming anything
    else is a typo). A ``documentReview`` applies exactly when the document it
    reviews does: it takes that task's ``when`` (a different one is refused),
    or an application could wait forever for a review of a document nobody
    asked for. No input may be asked for twice (the requirements and the
    blockers name each input once).
    """

    def bad(problem: str) -> ValueError:
        return ValueError(f"{source}: workflow {problem}")

    if not isinstance(definition, Mapping):
        raise bad("is missing")
    if not isinstance(definition.get("_id"), str) or not isinstance(
            definition.get("version"), int) or definition["version"] < 1:
        raise bad("needs a string _id and a positive integer version")
    result = copy.deepcopy(dict(definition))
    tasks = result.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise bad("needs a non-empty list of tasks")
    seen: set[str] = set()
    documents: dict[str, Any] = {}  # document type -> the when of the task asking for it
    asked: set[str] = set()
    for index, task in enumerate(tasks):
        where = f"task {index}"
        if not isinstance(task, Mapping) or not isinstance(task.get("_id"), str):
            raise bad(f"{where} needs a string _id")
        if task["_id"] in seen:
            raise bad(f"{where} repeats _id {task['_id']!r}")
        seen.add(task["_id"])
        kind = task.get("type")
        if kind not in TASK_TYPES:
            raise bad(f"{where} has unknown type {kind!r}")
        if task.get("actor", TASK_TYPES[kind]) != TASK_TYPES[kind]:
            raise bad(f"{where}: a {kind} task is completed by the {TASK_TYPES[kind]}")
        if "when" in task:
            problem = _when_problem(task["when"], kind, applicant_types, countries)
            if problem:
                raise bad(f"{where} {problem}")
        if kind == "consent" and task.get("consent") not in CONSENT_TYPES:
            raise bad(f"{where} names no known consent type")
        if kind == "document":
            if not isinstance(task.get("document"), str):
                raise bad(f"{where} needs a document type")
            documents[task["document"]] = task.get("when")
        if kind == "documentReview":
            if task.get("document") not in documents:
                raise bad(f"{where} reviews a document no earlier task asks for")
            asked_when = documents[task["document"]]
            if "when" not in task and asked_when is not None:
                task["when"] = copy.deepcopy(asked_when)
            elif task.get("when") != asked_when:
                raise bad(f"{where} must apply when the {task['document']} document is asked "
                          "for (the same when, or none)")
        if kind == "organization" and not set(task.get("fields", ())) <= set(
                ORGANIZATION_FIELDS):
            raise bad(f"{where} names unknown organization fields")
        if kind == "relatedParties" and not (isinstance(task.get("requiredRoles", []), list)
                                             and all(isinstance(role, str)
                                                     for role in task.get("requiredRoles", []))):
            raise bad(f"{where} needs requiredRoles as strings")
        if kind == APPROVAL and index != len(tasks) - 1:
            raise bad("must end with its only accountApproval task")
        for need in _needs(task):
            if need["_id"] in asked:
                raise bad(f"{where} asks again for {need['_id']} (give the task a when instead)")
            asked.add(need["_id"])
    if tasks[-1]["type"] != APPROVAL:
        raise bad("must end with an accountApproval task")
    return result


def _when_problem(when: Any, kind: str, applicant_types: Any, countries: Any) -> str | None:
    """What is wrong with a task's ``when`` (``None``: nothing)."""
    if kind == APPROVAL:
        return "(the approval) applies always: it takes no when"
    if not isinstance(when, Mapping) or not when or not set(when) <= set(CONDITIONS):
        return f"needs a when with some of {', '.join(CONDITIONS)}"
    for key, values in when.items():
        if not isinstance(values, list) or not values or not all(
                isinstance(value, str) for value in values) or len(set(values)) != len(values):
            return f"needs when.{key} as a non-empty list of strings without repeats"
    if not set(when.get("applicantTypes", ())) <= set(applicant_types):
        return f"names an applicant type the product is not offered to ({when['applicantTypes']})"
    for key in ("countries", "exceptCountries"):
        if not all(is_country_code(code) for code in when.get(key, ())):
            return f"needs when.{key} as ISO 3166-1 alpha-2 codes (US)"
    if "countries" in when and "exceptCountries" in when:
        return "gives both countries and exceptCountries"
    if countries is not None and not set(when.get("countries", ())) <= set(countries):
        return f"names a country the product is not offered in ({when['countries']})"
    return None


#: product id -> (its workflow definition, the snapshot of it as JSON). A create
#: decodes the JSON: a fresh copy, cheaper than ``deepcopy``.
_SNAPSHOTS: dict[str, tuple[Any, str]] = {}


def snapshot(product: Any) -> dict[str, Any]:
    """The definition an application keeps for life: the product's offer (applicant types,
    countries) and its tasks, with the product's funding limits filled in."""
    definition = product.workflow
    cached = _SNAPSHOTS.get(product.id)
    if cached is None or cached[0] is not definition:
        cached = _SNAPSHOTS[product.id] = (definition,
                                           jsoncodec.dumps(_snapshot(product), strict=True))
    return jsoncodec.loads(cached[1])


def _snapshot(product: Any) -> dict[str, Any]:
    definition = product.workflow
    tasks = []
    for task in definition["tasks"]:
        task = {"actor": TASK_TYPES[task["type"]], **copy.deepcopy(task)}
        if task["type"] == "funding":
            task.setdefault("currency", product.currency)
            task.setdefault("minimum", str(product.minimum_funding))
            task.setdefault("maximum", str(product.maximum_funding))
        tasks.append(task)
    return {"_id": definition["_id"], "version": definition["version"],
            "productId": product.id, "applicantTypes": list(product.applicant_types),
            "countries": list(product.countries), "tasks": tasks}


def completion(task: Mapping[str, Any]) -> str:
    """What completes ``task``, in words: its completion rule, for the people reading it."""
    kind = task["type"]
    if kind == "organization":
        names = [f"organization.{name}" for name in task.get("fields", ORGANIZATION_FIELDS)]
        return f"{_words(names)} are given."
    if kind == "relatedParties":
        return (f"An applicant holds each of the roles (role.name) "
                f"{_words(task.get('requiredRoles', ()))}.")
    if kind == "funding":
        limits = (f" between {task['minimum']} and {task['maximum']} {task['currency']}"
                  if "minimum" in task else "")
        return f"fundingAccount is given, and fundingAmount{limits}."
    if kind == "consent":
        return f"A consent of type {task['consent']} is given."
    if kind == "document":
        return f"A document of type {task['document']} is provided and not rejected."
    if kind == "documentReview":
        return (f"The institution accepts the {task['document']} document "
                "(apiture:documentReviews).")
    if kind == "identityVerification":
        return ("The institution verifies the identity of each applicant, as currently given "
                "(apiture:identityVerifications).")
    return "The institution approves the application (apiture:approve) once nothing else remains."


def _words(items: Any) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


# --- who applies, and what the workflow requires of them --------------------------

@dataclass(frozen=True)
class Profile:
    """Who applies: ``individual`` or ``business``, and the country (ISO 3166-1
    alpha-2) where the person lives or the business is registered. ``None``: not
    known (applications made before products had an offer)."""

    applicant_type: str | None = None
    country: str | None = None


#: the profile's fields, by their name in bodies and queries
_PROFILE_FIELDS = (("applicantType", "applicantTypes"), ("country", "countries"))
MISSING, MALFORMED, NOT_OFFERED = "missing", "malformed", "notOffered"


class ProfileError(ValueError):
    """Why a profile does not fit a product: ``reason`` is missing (``400``),
    malformed (``400``) or notOffered (``422``); ``name`` is the field."""

    def __init__(self, reason: str, name: str, message: str, offered: list[str] | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = 422 if reason == NOT_OFFERED else 400
        self.name = name
        self.message = message
        self.offered = offered


def profile_of(doc: Mapping[str, Any]) -> Profile:
    """Who applies, as the application says."""
    return Profile(doc.get("applicantType"), doc.get("country"))


def applicant_profile(definition: Mapping[str, Any], applicant_type: str | None,
                      country: str | None) -> Profile:
    """The profile of an applicant for the product ``definition`` is a snapshot of.

    Left out, the applicant type or the country is the product's only one; a
    product offered to several needs it said. ``ProfileError`` when it is
    missing, malformed or not offered. A definition without an offer (snapshots
    older than offers) takes what is given.
    """
    given = {"applicantType": applicant_type or None, "country": country or None}
    for name, offer_key in _PROFILE_FIELDS:
        offered = definition.get(offer_key)
        value = given[name]
        if value is None:
            if offered is not None and len(offered) == 1:
                given[name] = offered[0]
            elif offered:
                raise ProfileError(MISSING, name, f"is required: the product is offered to "
                                   f"{_words(offered)}.", offered)
        elif not (value in APPLICANT_TYPES if name == "applicantType"
                  else is_country_code(value)):
            raise ProfileError(MALFORMED, name, "must be individual or business." if (
                name == "applicantType") else "must be an ISO 3166-1 alpha-2 country code, "
                "such as US.", offered)
        elif offered is not None and value not in offered:
            raise ProfileError(NOT_OFFERED, name, f"the product is not offered to {value!r}; "
                               f"it is offered to {_words(offered)}.", offered)
    return Profile(given["applicantType"], given["country"])


def applies(task: Mapping[str, Any], profile: Profile) -> bool:
    """Whether ``task`` applies to an applicant with ``profile`` (its ``when``).

    What is not known excludes nothing: an unknown country needs every
    country's tasks.
    """
    when = task.get("when") or {}
    kind, country = profile.applicant_type, profile.country
    excluded_kind = kind is not None and kind not in when.get("applicantTypes", (kind,))
    excluded_country = country is not None and (
        country not in when.get("countries", (country,))
        or country in when.get("exceptCountries", ()))
    return not (excluded_kind or excluded_country)


FIELD, CONSENT, DOCUMENT, RELATED_PARTY = "field", "consent", "document", "relatedParty"
#: what the applicant may be asked for: a field, a consent, a document, a related party's role
REQUIREMENT_KINDS = (FIELD, CONSENT, DOCUMENT, RELATED_PARTY)


def _need(task: Mapping[str, Any], kind: str, name: str, field: str,
          **attributes: Any) -> dict[str, Any]:
    need = {"_id": f"{kind}:{name}", "kind": kind, "name": name, "field": field,
            "task": task["_id"], "label": task.get("label") or task["type"]}
    if attributes:
        need["attributes"] = attributes
    return need


def _needs(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inputs ``task`` asks of the applicant, each with the field they go in."""
    kind = task["type"]
    if kind == "funding":
        limits = {key: task[key] for key in ("currency", "minimum", "maximum") if key in task}
        return [_need(task, FIELD, "fundingAccount", "fundingAccount"),
                _need(task, FIELD, "fundingAmount", "fundingAmount", **limits)]
    if kind == "consent":
        return [_need(task, CONSENT, task["consent"], "consents")]
    if kind == "document":
        return [_need(task, DOCUMENT, task["document"], "documents")]
    if kind == "organization":
        return [_need(task, FIELD, f"organization.{name}", f"organization.{name}")
                for name in task.get("fields", ORGANIZATION_FIELDS)]
    if kind == "relatedParties":
        return [_need(task, RELATED_PARTY, role, "applicants")
                for role in task.get("requiredRoles", ())]
    if kind == "identityVerification":
        return [_need(task, FIELD, "applicants", "applicants")]
    return []  # the institution's own tasks ask nothing of the applicant


def plan(definition: Mapping[str, Any], profile: Profile
         ) -> list[tuple[Mapping[str, Any], list[dict[str, Any]]]]:
    """What this workflow requires of this applicant: each task that applies to
    ``profile``, with the inputs it asks of the applicant.

    The one place that decides it: the product's requirements resource lists
    these inputs (:func:`requirements`), and :func:`evaluate` checks exactly
    these, each blocker naming the one it is about, so what a form asks and
    what approval needs can never disagree.
    """
    return [(task, _needs(task)) for task in definition["tasks"] if applies(task, profile)]


def requirements(definition: Mapping[str, Any], profile: Profile) -> list[dict[str, Any]]:
    """Every input the workflow requires of an applicant with ``profile``, in task order:
    ``_id`` (``kind:name``, as blockers name it), ``kind``, ``name``, ``field``, ``task``,
    ``label`` and, for the funding amount, the limits as ``attributes``."""
    return [need for _task, needs in plan(definition, profile) for need in needs]


# --- evaluation -----------------------------------------------------------------

@dataclass
class Evaluation:
    """Everything derived from one application's stored data."""

    tasks: list[dict[str, Any]]
    blockers: list[dict[str, Any]]
    next_action: dict[str, Any] | None
    workflow_state: str
    #: something other than the approval remains, and all of it waits on the institution
    waiting_on_institution: bool


def _blocker(code: str, task: Mapping[str, Any], field: str, actor: str, message: str,
             remediation: str, *, need: Mapping[str, Any] | None = None,
             **attributes: Any) -> dict[str, Any]:
    """A blocker; one the applicant clears names the requirement (``need``) it is about."""
    blocker = {"code": code, "task": task["_id"], "field": field, "actor": actor,
               "message": message, "remediation": remediation}
    if need is not None:
        blocker["requirement"] = need["_id"]
    if attributes:
        blocker["attributes"] = attributes
    return blocker


def _instance(task: Mapping[str, Any], blockers: list[dict], *, task_id: str | None = None,
              label: str | None = None, waiting_for: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """A task as shown: done without blockers; else pending for its actor or waiting."""
    instance = {"_id": task_id or task["_id"], "type": task["type"],
                "label": label or task.get("label") or task["type"], "actor": task["actor"]}
    if waiting_for:
        instance.update(state=WAITING, waitingFor=waiting_for)
    else:
        instance["state"] = PENDING if blockers else DONE
    instance.update(extra)
    instance["_blockers"] = blockers
    return instance


def applicant_name(applicant: Mapping[str, Any]) -> str:
    """A display name for an applicant."""
    contact = applicant.get("contact") or {}
    name = " ".join(p for p in (contact.get("firstName"), contact.get("lastName")) if p)
    return name or applicant.get("username") or "applicant"


def fingerprint(applicant: Mapping[str, Any]) -> str:
    """What an identity verification vouches for: the applicant's identifying details.

    Changing them (another name, another contact) makes an earlier result stale.
    """
    contact = {k: v for k, v in (applicant.get("contact") or {}).items()
               if k not in ("_id", "preferredName")}
    subject = {"contact": contact, "username": applicant.get("username")}
    return hashlib.sha256(json.dumps(subject, sort_keys=True).encode()).hexdigest()[:32]


# Each rule checks the inputs plan() gave its task (``needs``), and nothing else.

def _funding(task: Mapping[str, Any], needs: list[dict], doc: Mapping[str, Any]) -> list[dict]:
    account, amount_need = needs
    blockers = []
    if not doc.get("fundingAccount"):
        blockers.append(_blocker(
            "fundingAccountMissing", task, "fundingAccount", APPLICANT,
            "No funding account is given.",
            "Set fundingAccount to the account that funds the new account.", need=account))
    amount = doc.get("fundingAmount")
    currency, low, high = task["currency"], Decimal(task["minimum"]), Decimal(task["maximum"])
    limits = {"currency": currency, "minimum": task["minimum"], "maximum": task["maximum"]}
    if not amount:
        blockers.append(_blocker(
            "fundingAmountMissing", task, "fundingAmount", APPLICANT,
            "No funding amount is given.",
            f"Set fundingAmount between {low} and {high} {currency}.", need=amount_need,
            **limits))
        return blockers
    try:
        value = Decimal(str(amount.get("value")))
    except InvalidOperation:
        value = None
    if amount.get("currency") != currency:
        blockers.append(_blocker(
            "fundingCurrencyMismatch", task, "fundingAmount.currency", APPLICANT,
            f"The product is funded in {currency}.",
            f"Set fundingAmount.currency to {currency}.", need=amount_need, **limits))
    elif value is None or value < low:
        blockers.append(_blocker(
            "fundingAmountBelowMinimum", task, "fundingAmount.value", APPLICANT,
            f"The funding amount is below the product's minimum of {low} {currency}.",
            f"Raise fundingAmount.value to at least {low}.", need=amount_need, **limits))
    elif value > high:
        blockers.append(_blocker(
            "fundingAmountAboveMaximum", task, "fundingAmount.value", APPLICANT,
            f"The funding amount is above the product's maximum of {high} {currency}.",
            f"Lower fundingAmount.value to at most {high}.", need=amount_need, **limits))
    return blockers


def _consent(task: Mapping[str, Any], needs: list[dict], doc: Mapping[str, Any]) -> list[dict]:
    (need,) = needs
    kind = need["name"]
    given = [c for c in doc.get("consents") or [] if c.get("type") == kind]
    if given and given[-1].get("state", "given") == "given":
        return []
    if given:
        return [_blocker("consentRevoked", task, "consents", APPLICANT,
                         f"The {kind} consent was revoked.",
                         f"Give the {kind} consent again (state given).", need=need,
                         consent=kind)]
    return [_blocker("consentMissing", task, "consents", APPLICANT,
                     f"The {kind} consent is not given.",
                     f"Add a consent of type {kind} with state given.", need=need, consent=kind)]


def _organization(task: Mapping[str, Any], needs: list[dict],
                  doc: Mapping[str, Any]) -> list[dict]:
    organization = doc.get("organization") or {}
    blockers = []
    for need in needs:
        name = need["field"].removeprefix("organization.")
        if not organization.get(name):
            blockers.append(_blocker("organizationIncomplete", task, need["field"], APPLICANT,
                                     f"The organization's {name} is missing.",
                                     f"Set {need['field']}.", need=need))
    return blockers


def _related_parties(task: Mapping[str, Any], needs: list[dict],
                     doc: Mapping[str, Any]) -> list[dict]:
    roles = {((a.get("role") or {}).get("name")) for a in doc.get("applicants") or []}
    return [_blocker("relatedPartyMissing", task, "applicants", APPLICANT,
                     f"No applicant has the role {need['name']}.",
                     f"Add the organization's {need['name']} to applicants, with role.name "
                     f"{need['name']}.", need=need, role=need["name"])
            for need in needs if need["name"] not in roles]


def _documents_of(doc: Mapping[str, Any], kind: str) -> list[dict]:
    return [d for d in doc.get("documents") or [] if d.get("type") == kind]


def _document(task: Mapping[str, Any], needs: list[dict], doc: Mapping[str, Any]) -> list[dict]:
    (need,) = needs
    kind = need["name"]
    documents = _documents_of(doc, kind)
    if any(d.get("state") != "rejected" for d in documents):
        return []
    if documents:
        last = documents[-1]
        return [_blocker("documentRejected", task, "documents", APPLICANT,
                         f"The {kind} document was rejected: "
                         f"{last.get('reviewReason') or 'no reason given'}.",
                         f"Add a new document of type {kind}.", need=need,
                         documentType=kind, document=last.get("_id"))]
    return [_blocker("documentMissing", task, "documents", APPLICANT,
                     f"No {kind} document is provided.",
                     f"Add a document of type {kind} to documents.", need=need,
                     documentType=kind)]


def _document_review(task: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    kind = task["document"]
    documents = _documents_of(doc, kind)
    if any(d.get("state") == "accepted" for d in documents):
        return _instance(task, [])
    waiting = [d for d in documents if d.get("state") == "pending"]
    if not waiting:  # the document task says what the applicant must do
        return _instance(task, [], waiting_for=APPLICANT)
    return _instance(task, [_blocker(
        "documentReviewPending", task, "documents", INSTITUTION,
        f"The {kind} document awaits the institution's review.",
        "The institution reviews it (POST apiture:documentReviews).",
        documentType=kind, document=waiting[0].get("_id"))])


def _identity(task: Mapping[str, Any], needs: list[dict],
              doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    (need,) = needs  # the applicants, whose identity the institution verifies
    applicants = doc.get("applicants") or []
    if not applicants:
        return [_instance(task, [_blocker(
            "applicantMissing", task, "applicants", APPLICANT, "The application has no applicant.",
            "Add the applicants to applicants.", need=need)], waiting_for=APPLICANT)]
    results = {v.get("applicant"): v for v in doc.get("identityVerifications") or []}
    instances = []
    for index, applicant in enumerate(applicants):
        name = applicant_name(applicant)
        role = (applicant.get("role") or {}).get("name")
        task_id = f"{task['_id']}.{applicant.get('_id') or index}"
        label = f"Verify the identity of {name}" + (f" ({role})" if role else "")
        result = results.get(applicant.get("_id"))
        if result and result.get("fingerprint") != fingerprint(applicant):
            result = None  # the details changed since they were verified
        subject = {"applicant": applicant.get("_id")}
        shown = {"_id": task_id}
        if result and result.get("result") == "verified":
            instances.append(_instance(task, [], task_id=task_id, label=label, subject=subject))
        elif result:
            instances.append(_instance(task, [_blocker(
                "identityVerificationFailed", shown, f"applicants[{index}].contact", APPLICANT,
                f"The identity of {name} could not be verified: "
                f"{result.get('reason') or 'no reason given'}.",
                f"Correct the details of applicants[{index}] (or replace the applicant); "
                "the institution then verifies again.", need=need,
                applicant=applicant.get("_id"))],
                task_id=task_id, label=label, waiting_for=APPLICANT, subject=subject))
        else:
            instances.append(_instance(task, [_blocker(
                "identityVerificationPending", shown, f"applicants[{index}]", INSTITUTION,
                f"The identity of {name} is not verified yet.",
                "The institution records the result (POST apiture:identityVerifications).",
                applicant=applicant.get("_id"))], task_id=task_id, label=label,
                subject=subject))
    return instances


_RULES = {
    "funding": _funding,
    "consent": _consent,
    "organization": _organization,
    "relatedParties": _related_parties,
    "document": _document,
}

#: the link relation with which the institution acts on a task of this type
_INSTITUTION_RELS = {
    "identityVerification": "apiture:identityVerifications",
    "documentReview": "apiture:documentReviews",
    APPROVAL: "apiture:approve",
}


def acting(task: Mapping[str, Any]) -> str | None:
    """Who must act on ``task`` now (``None`` when it is done)."""
    if task["state"] == DONE:
        return None
    return task["actor"] if task["state"] == PENDING else task.get("waitingFor")


def definition_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The application's workflow snapshot (applications older than workflows: approval only)."""
    return doc.get("workflow") or {"_id": "legacy", "version": 0, "tasks": [
        {"_id": "approval", "type": APPROVAL, "actor": INSTITUTION,
         "label": "Approve the account"}]}


def evaluate(doc: Mapping[str, Any], state: str) -> Evaluation:
    """Derive the tasks, blockers, next action and workflowState of an application.

    The tasks and the inputs checked are :func:`plan`'s for the application's
    profile: those its product's requirements resource lists.
    """
    tasks: list[dict[str, Any]] = []
    approval: Mapping[str, Any] | None = None
    for task, needs in plan(definition_of(doc), profile_of(doc)):
        kind = task["type"]
        if kind == APPROVAL:
            approval = task
        elif kind == "identityVerification":
            tasks.extend(_identity(task, needs, doc))
        elif kind == "documentReview":
            tasks.append(_document_review(task, doc))
        else:
            tasks.append(_instance(task, _RULES[kind](task, needs, doc)))
    if state == "approved":
        _settle_all(tasks, doc)
    remaining = [t for t in tasks if t["state"] != DONE]
    blockers = [b for t in tasks for b in t.pop("_blockers")]
    applicant_turn = any(acting(t) == APPLICANT for t in remaining)
    if approval is not None:
        if state == "approved":
            tasks.append(_instance(approval, []))
        elif remaining:
            tasks.append(_instance(approval, [], waiting_for=(
                APPLICANT if applicant_turn else INSTITUTION)))
        else:
            instance = _instance(approval, [])
            instance["state"] = PENDING
            tasks.append(instance)
        tasks[-1].pop("_blockers")
    waiting_on_institution = bool(remaining) and not applicant_turn
    if state in _FINAL_WORKFLOW_STATE:
        workflow_state = _FINAL_WORKFLOW_STATE[state]
    elif applicant_turn:
        workflow_state = "running"
    elif remaining:
        workflow_state = "waitingForInstitution"
    else:
        workflow_state = "readyForApproval"
    in_progress = state in lifecycle.INCOMPLETE_STATES
    return Evaluation(tasks, blockers, _next_action(tasks, blockers) if in_progress else None,
                      workflow_state, waiting_on_institution)


def _settle_all(tasks: list[dict[str, Any]], doc: Mapping[str, Any]) -> None:
    """An approved application has nothing left to do: the approval settled every task.

    Tasks the approval waived (the institution's, or any of a seeded
    application's) say by whom and when (``document.waivers``).
    """
    waived = {w.get("task"): w for w in doc.get("waivers") or []}
    for task in tasks:
        if task["state"] == DONE:
            continue
        task.pop("waitingFor", None)
        task["state"] = DONE
        task["_blockers"] = []
        waiver = waived.get(task["_id"])
        if waiver is not None:
            task["waivedBy"] = waiver.get("waivedBy")
            task["waivedAt"] = waiver.get("waivedAt")


def identity_verification(doc: Mapping[str, Any], applicant: Mapping[str, Any]) -> dict[str, Any]:
    """The institution's current identity-verification result for ``applicant``
    (``result`` ``pending`` when there is none, or its details changed since)."""
    for record in doc.get("identityVerifications") or []:
        if record.get("applicant") == applicant.get("_id") and record.get(
                "fingerprint") == fingerprint(applicant):
            return {k: v for k, v in record.items() if k not in ("applicant", "fingerprint")}
    return {"result": "pending"}


def _next_action(tasks: list[dict], blockers: list[dict]) -> dict[str, Any] | None:
    """The first thing to do, the applicant's first (the institution then waits on it)."""
    for actor in (APPLICANT, INSTITUTION):
        for blocker in blockers:
            if blocker["actor"] == actor:
                task = next((t for t in tasks if t["_id"] == blocker["task"]), None)
                rel = "self" if actor == APPLICANT else _INSTITUTION_RELS.get(
                    task["type"] if task else "", "self")
                return {"actor": actor, "task": blocker["task"], "code": blocker["code"],
                        "field": blocker["field"], "message": blocker["remediation"],
                        "rel": rel}
    final = tasks[-1] if tasks else None
    if final and final["type"] == APPROVAL and final["state"] == PENDING:
        return {"actor": INSTITUTION, "task": final["_id"], "code": "approvalPending",
                "field": None, "message": "The institution approves or rejects the application.",
                "rel": "apiture:approve"}
    return None


_EVALUATIONS = "accountapps.evaluations"


def evaluation(doc: Mapping[str, Any], state: str) -> Evaluation:
    """:func:`evaluate`, done once per document and state for the rest of the request.

    A write evaluates the document it stores (for ``workflowState``), then
    settles it and renders it: the same document three times. Documents are not
    changed once evaluated (a write builds a new one), and the entry keeps the
    document alive, so its ``id`` cannot be reused within the request. Callers
    must not change what they get.
    """
    if not has_request_context():
        return evaluate(doc, state)
    memo = request.environ.setdefault(_EVALUATIONS, {})
    key = (id(doc), state)
    hit = memo.get(key)
    if hit is not None and hit[0] is doc:
        return hit[1]
    result = evaluate(doc, state)
    memo[key] = (doc, result)
    return result


def workflow_state(doc: Mapping[str, Any], state: str) -> str:
    """The ``workflowState`` of an application with ``doc`` in ``state``."""
    return evaluation(doc, state).workflow_state


def approval_blockers(row: Any) -> list[dict[str, Any]]:
    """What forbids approving ``row`` now (``Kind.blockers``): every open task but approval.

    Each blocker doubles as a nested error of the ``409`` (``type`` is its code).
    """
    return [{"type": b["code"], **b} for b in evaluation(row.document, row.state).blockers]


# --- automatic block and unblock ------------------------------------------------

def _labels(tasks: list[dict]) -> str:
    return "; ".join(t["label"] for t in tasks)


def settle(kind: Kind, resource_id: str, cause: str, max_attempts: int = 5,
           row: Any = None) -> Any:
    """After a write: block an application that waits only on the institution, else unblock.

    The transition is the service's own (``principal=None``), conditional on the
    revision just evaluated: if another write slipped in, evaluate again.
    ``row`` is the row as the write left it, if the caller has it (spares a read).
    """
    if row is None:
        row = store.fetch(kind, resource_id)
    for _attempt in range(max_attempts):
        if row is None or row.state not in lifecycle.INCOMPLETE_STATES:
            return row
        progress = evaluation(row.document, row.state)
        remaining = [t for t in progress.tasks
                     if t["state"] != DONE and t["type"] != APPROVAL]
        if progress.waiting_on_institution:
            target = "blocked"
            reason = (f"{cause} Everything that remains waits on the institution: "
                      f"{_labels(remaining)}.")
        else:
            target = "running"
            mine = [t for t in remaining if acting(t) == APPLICANT]
            reason = (f"{cause} The applicant has to act: {_labels(mine)}." if mine else
                      f"{cause} The institution's review is complete; the application "
                      "awaits approval.")
        if target == row.state:
            return row
        try:
            return lifecycle.transition(
                kind, resource_id, target, principal=None, reason=reason,
                if_match=IfMatch(any=False, revisions=frozenset({row.revision})),
                load=lambda rid: store.fetch(kind, rid))
        except ApiError as exc:
            if exc.status != 412:
                raise
        row = store.fetch(kind, resource_id)
    return row


# --- the institution's inputs ---------------------------------------------------

def _require_admin(principal: Principal, what: str) -> None:
    if not policy.may_give_institution_input(principal):
        raise ApiError(403, "forbidden", f"Only the financial institution may {what}.",
                       remediation="Use a token with the admin/write scope.")


def _write(kind: Kind, principal: Principal, row: Any, if_match: IfMatch | None, change: Any,
           cause: str, event: str) -> Any:
    """Apply ``change(doc, row) -> None`` by compare-and-set, then settle the state.

    ``event``: the type of the change's event (after the resource's name).
    """

    def compute(current: Any) -> dict[str, Any]:
        doc = jsoncodec.copy_document(current.document)
        change(doc, current)
        return {"document": doc, "workflow_state": workflow_state(doc, current.state)}

    row = store.cas_update(kind, row, if_match or _ANY, compute,
                           reload=lambda: store.fetch(kind, row.id), principal=principal,
                           change=event, reason=cause)
    return settle(kind, row.id, cause, row=row)


def record_identity_verification(kind: Kind, principal: Principal, row: Any,
                                 data: Mapping[str, Any], if_match: IfMatch | None) -> Any:
    """Record the identity-verification result of one applicant (administrators).

    The result vouches for the applicant's details as they are now; one current
    result per applicant is kept.
    """
    _require_admin(principal, "record identity verifications")
    applicant_id = data["applicant"]

    def change(doc: dict[str, Any], _current: Any) -> None:
        applicants = doc.get("applicants") or []
        applicant = next((a for a in applicants if a.get("_id") == applicant_id), None)
        if applicant is None:
            raise validation_error([field_error(
                "applicant", "is not an applicant of this application.", "unknownApplicant",
                value=applicant_id)], 422)
        present = {a.get("_id") for a in applicants} - {applicant_id}
        results = [v for v in doc.get("identityVerifications") or []
                   if v.get("applicant") in present]
        record = {"applicant": applicant_id, "result": data["result"],
                  "fingerprint": fingerprint(applicant),
                  "verifiedAt": timestamp(utcnow()), "userId": principal.user_id}
        for key in ("reason", "reference"):
            if data.get(key):
                record[key] = data[key]
        doc["identityVerifications"] = [*results, record]

    name = next((applicant_name(a) for a in row.document.get("applicants") or []
                 if a.get("_id") == applicant_id), applicant_id)
    cause = (f"Identity verification of {name} recorded by {principal.user_id}: "
             f"{data['result']}.")
    return _write(kind, principal, row, if_match, change, cause,
                  "identityVerificationRecorded")


def review_document(kind: Kind, principal: Principal, row: Any, data: Mapping[str, Any],
                    if_match: IfMatch | None) -> Any:
    """Accept or reject one provided document (administrators)."""
    _require_admin(principal, "review documents")
    document_id = data["document"]

    def change(doc: dict[str, Any], _current: Any) -> None:
        document = next((d for d in doc.get("documents") or []
                         if d.get("_id") == document_id), None)
        if document is None:
            raise validation_error([field_error(
                "document", "is not a document of this application.", "unknownDocument",
                value=document_id)], 422)
        document["state"] = data["decision"]
        document["reviewedAt"] = timestamp(utcnow())
        if data.get("reason"):
            document["reviewReason"] = data["reason"]
        else:
            document.pop("reviewReason", None)

    kind_of = next((d.get("type") for d in row.document.get("documents") or []
                    if d.get("_id") == document_id), "document")
    cause = (f"Document {kind_of} {document_id} reviewed by {principal.user_id}: "
             f"{data['decision']}.")
    return _write(kind, principal, row, if_match, change, cause, "documentReviewed")
