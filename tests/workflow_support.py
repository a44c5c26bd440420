"""Helpers for the workflow tests: products, bodies and link-following steps."""

from __future__ import annotations

import copy
from typing import Any

PRODUCTS = "https://www.example.com/products/products"
PREMIERE_SAVINGS = f"{PRODUCTS}/51df9a81-2cb8-4515-aad1-9543b3c4fc18"
PERSONAL_SAVINGS = f"{PRODUCTS}/40ed6e40-cffa-4944-8d54-f9b50ed2081f"
PERSONAL_CHECKING = f"{PRODUCTS}/8b0c3a52-6f0e-4a3c-9d2f-1c7e5b9a4d10"
BUSINESS_CHECKING = f"{PRODUCTS}/c2f7e8d4-3b1a-4e6f-8a9c-5d0b7e2f1a36"

ALL_CONSENTS = ("productTermsAndConditions", "electronicConsent", "privacyPolicy")

FUNDING_ACCOUNT = {
    "title": "Elsa Snowqueen",
    "institutionName": "3rd Party Bank",
    "routingNumber": "021000021",
    "accountNumbers": {"full": "9876543210"},
}


def money(value: str, currency: str = "USD") -> dict[str, str]:
    return {"value": value, "currency": currency}


def consents(*types: str, state: str = "given") -> list[dict[str, str]]:
    return [{"type": kind, "state": state} for kind in (types or ALL_CONSENTS)]


def document(kind: str, uri: str | None = None) -> dict[str, str]:
    return {"type": kind, "name": f"{kind}.pdf", "contentType": "application/pdf",
            "uri": uri or f"https://files.example.com/{kind}.pdf"}


def person(first: str, last: str, role: str | None = None) -> dict[str, Any]:
    applicant: dict[str, Any] = {
        "username": f"{first.lower()}{last.lower()}",
        "contact": {"firstName": first, "lastName": last, "_links": {"self": {
            "href": f"https://www.example.com/users/user/{first.lower()}-{last.lower()}"}}},
    }
    if role:
        applicant["role"] = {"name": role}
    return applicant


def new_application(product: str, **fields: Any) -> dict[str, Any]:
    """A create body for ``product`` (Elsa as the applicant unless given)."""
    body = {"accountName": "My account", "_links": {"apiture:product": {"href": product}},
            "applicants": [person("Elsa", "Snowqueen", "primaryUser")]}
    body.update(copy.deepcopy(fields))
    return body


def complete_personal(product: str = PREMIERE_SAVINGS, **fields: Any) -> dict[str, Any]:
    """Everything the applicant does for a personal product without documents."""
    defaults = {"fundingAccount": FUNDING_ACCOUNT, "fundingAmount": money("1500.00"),
                "consents": consents()}
    return new_application(product, **{**defaults, **fields})


def href(body: dict[str, Any], rel: str) -> str:
    return body["_links"][rel]["href"]


def patch(api: Any, response: Any, changes: dict[str, Any]) -> Any:
    """PATCH the application of ``response`` through its self link, with its ETag."""
    return api.patch(href(response.json, "self"), json=changes,
                     headers={"If-Match": response.headers["ETag"]})


def fetch(api: Any, response: Any) -> Any:
    """GET the application of ``response`` (as ``api`` sees it) through its self link."""
    return api.get(href(response.json, "self"))


def verify(admin: Any, application: Any, applicant_id: str, result: str = "verified",
           reason: str | None = None) -> Any:
    """The institution records an identity-verification result by following its link."""
    seen = fetch(admin, application)
    body = {"applicant": applicant_id, "result": result}
    if reason:
        body["reason"] = reason
    return admin.post(href(seen.json, "apiture:identityVerifications"), json=body)


def review(admin: Any, application: Any, document_id: str, decision: str = "accepted",
           reason: str | None = None) -> Any:
    """The institution reviews a document by following its link."""
    seen = fetch(admin, application)
    body = {"document": document_id, "decision": decision}
    if reason:
        body["reason"] = reason
    return admin.post(href(seen.json, "apiture:documentReviews"), json=body)


def verify_all(admin: Any, application: Any) -> Any:
    response = application
    for applicant in application.json["applicants"]:
        response = verify(admin, response, applicant["_id"])
        assert response.status_code == 200, response.json
    return response


def accept_all(admin: Any, application: Any) -> Any:
    response = application
    for item in application.json["documents"]:
        response = review(admin, response, item["_id"])
        assert response.status_code == 200, response.json
    return response


def codes(body: dict[str, Any]) -> list[str]:
    """The blocker codes of an application (or of a 409's nested errors)."""
    if "_error" in body:
        return [e["type"] for e in body["_error"]["_embedded"]["errors"]]
    return [b["code"] for b in body["blockers"]]


def task_states(body: dict[str, Any]) -> dict[str, str]:
    return {task["_id"]: task["state"] for task in body["tasks"]}


def audit(admin: Any, application: Any) -> list[dict[str, Any]]:
    seen = fetch(admin, application)
    return admin.get(href(seen.json, "apiture:auditTrail")).json["_embedded"]["items"]


def ready_for_approval(user: Any, admin: Any, product: str = PREMIERE_SAVINGS) -> Any:
    """An application of ``user`` with every task but the approval done (state running).

    For tests of the state machine that need an approvable application.
    """
    created = user.post("/applications", complete_personal(product))
    assert created.status_code == 201, created.json
    return verify_all(admin, created)
