"""Approval needs every task done: each kind of blocker refuses it with 409."""

from __future__ import annotations

from typing import Any

import pytest
from workflow_support import (
    BUSINESS_CHECKING,
    PERSONAL_CHECKING,
    accept_all,
    codes,
    complete_personal,
    consents,
    document,
    fetch,
    money,
    person,
    ready_for_approval,
    review,
    verify,
    verify_all,
)

BUSINESS_PARTIES = [person("Elsa", "Snowqueen", "authorizedSigner"),
                    person("Anna", "Arendelle", "director"),
                    person("Kristoff", "Bjorgman", "beneficialOwner")]


def _business(**changes: Any) -> dict[str, Any]:
    body = complete_personal(
        BUSINESS_CHECKING, fundingAmount=money("5000.00"), applicants=BUSINESS_PARTIES,
        organization={"name": "Arendelle Ice Ltd", "type": "corporation", "taxId": "12-3456789"},
        documents=[document("articlesOfIncorporation"), document("governmentId")])
    body.update(changes)
    return body


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _institution_done(user, admin, body):
    """Create ``body`` and let the institution do all its reviews."""
    created = user.post("/applications", body)
    assert created.status_code == 201, created.json
    return accept_all(admin, verify_all(admin, created))


def _failed_identity(user, admin):
    created = user.post("/applications", complete_personal())
    return verify(admin, created, created.json["applicants"][0]["_id"], "failed", "No match.")


def _pending_review(user, admin):
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    return verify_all(admin, created)


def _rejected_document(user, admin):
    reviewed = _pending_review(user, admin)
    return review(admin, reviewed, reviewed.json["documents"][0]["_id"], "rejected", "Expired.")


CASES = {
    "fundingAccountMissing": lambda u, a: _institution_done(
        u, a, _without(complete_personal(), "fundingAccount")),
    "fundingAmountMissing": lambda u, a: _institution_done(
        u, a, _without(complete_personal(), "fundingAmount")),
    "fundingCurrencyMismatch": lambda u, a: _institution_done(
        u, a, complete_personal(fundingAmount=money("1500.00", "EUR"))),
    "fundingAmountBelowMinimum": lambda u, a: _institution_done(
        u, a, complete_personal(fundingAmount=money("99.99"))),
    "fundingAmountAboveMaximum": lambda u, a: _institution_done(
        u, a, complete_personal(fundingAmount=money("250000.01"))),
    "consentMissing": lambda u, a: _institution_done(
        u, a, complete_personal(consents=consents("productTermsAndConditions", "privacyPolicy"))),
    "consentRevoked": lambda u, a: _institution_done(
        u, a, complete_personal(consents=[*consents("productTermsAndConditions", "privacyPolicy"),
                                          {"type": "electronicConsent", "state": "revoked"}])),
    "applicantMissing": lambda u, a: _institution_done(u, a, complete_personal(applicants=[])),
    "identityVerificationFailed": _failed_identity,
    "documentMissing": lambda u, a: _institution_done(u, a, complete_personal(PERSONAL_CHECKING)),
    "documentRejected": _rejected_document,
    "organizationIncomplete": lambda u, a: _institution_done(
        u, a, _business(organization={"name": "Arendelle Ice Ltd", "type": "corporation"})),
    "relatedPartyMissing": lambda u, a: _institution_done(
        u, a, _business(applicants=BUSINESS_PARTIES[:2])),
}


#: The institution's own tasks: its approval settles them (see test_contract_behaviours.py).
WAIVED = {
    "identityVerificationPending": lambda u, a: u.post("/applications", complete_personal()),
    "documentReviewPending": _pending_review,
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_approval_is_refused_while_an_applicant_blocker_remains(user, admin, code):
    application = CASES[code](user, admin)
    assert codes(application.json) == [code]
    seen = fetch(admin, application)
    assert "apiture:approve" not in seen.json["_links"]
    refused = admin.post(f"/approvedApplications?application={seen.json['_id']}")
    assert refused.status_code == 409, refused.json
    assert refused.json["_error"]["type"] == "approvalBlocked"
    assert codes(refused.json) == [code]
    assert [b["code"] for b in refused.json["_error"]["attributes"]["blockers"]] == [code]
    assert fetch(admin, application).json["state"] == seen.json["state"]


@pytest.mark.parametrize("code", sorted(WAIVED))
def test_approval_settles_the_institutions_own_remaining_task(user, admin, code):
    application = WAIVED[code](user, admin)
    assert codes(application.json) == [code]
    seen = fetch(admin, application)
    assert seen.json["state"] == "blocked"
    approved = admin.post(seen.json["_links"]["apiture:approve"]["href"])
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    assert approved.json["blockers"] == []
    assert {task["state"] for task in approved.json["tasks"]} == {"done"}


def test_blockers_name_the_task_the_requirement_the_field_and_the_remedy(user, admin):
    application = CASES["fundingAmountBelowMinimum"](user, admin)
    (blocker,) = application.json["blockers"]
    assert blocker == {
        "code": "fundingAmountBelowMinimum", "task": "funding",
        "requirement": "field:fundingAmount", "field": "fundingAmount.value",
        "actor": "applicant",
        "message": "The funding amount is below the product's minimum of 100.00 USD.",
        "remediation": "Raise fundingAmount.value to at least 100.00.",
        "attributes": {"currency": "USD", "minimum": "100.00", "maximum": "250000.00"},
    }


def test_approval_succeeds_once_the_last_blocker_is_cleared(user, admin):
    verified = ready_for_approval(user, admin)
    assert verified.json["state"] == "running"
    assert "apiture:approve" in verified.json["_links"]
    approved = admin.post(verified.json["_links"]["apiture:approve"]["href"])
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
