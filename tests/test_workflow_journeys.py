"""Full journeys, creation to approval, by following links only."""

from __future__ import annotations

from workflow_support import (
    BUSINESS_CHECKING,
    FUNDING_ACCOUNT,
    PERSONAL_CHECKING,
    audit,
    consents,
    document,
    fetch,
    href,
    money,
    new_application,
    person,
    review,
    task_states,
    verify,
)


def _create(user, body):
    root = user.get("/")
    response = user.post(href(root.json, "apiture:applications"), json=body)
    assert response.status_code == 201, response.json
    return response


def _follow(api, response, rel, body=None):
    """Follow ``rel`` of an application as ``api`` sees it, with its ETag."""
    seen = fetch(api, response)
    return api.post(href(seen.json, rel), json=body, headers={"If-Match": seen.headers["ETag"]})


def test_personal_journey_from_creation_to_approval(user, admin):
    created = _create(user, new_application(PERSONAL_CHECKING))
    assert created.json["state"] == "running"
    assert created.json["workflowState"] == "running"
    assert created.json["nextAction"]["actor"] == "applicant"
    assert "apiture:approve" not in fetch(admin, created).json["_links"]

    # The applicant does everything that is theirs, with one PATCH through the self link.
    seen = fetch(user, created)
    done = user.patch(href(seen.json, "self"), headers={"If-Match": seen.headers["ETag"]}, json={
        "fundingAccount": FUNDING_ACCOUNT, "fundingAmount": money("250.00"),
        "consents": consents(), "documents": [document("governmentId")]})
    assert done.status_code == 200, done.json
    assert done.json["state"] == "blocked"
    assert done.json["workflowState"] == "waitingForInstitution"
    assert done.json["nextAction"]["actor"] == "institution"
    assert {b["actor"] for b in done.json["blockers"]} == {"institution"}

    # The institution verifies the applicant and accepts the document, by its links.
    elsa = done.json["applicants"][0]["_id"]
    verified = verify(admin, done, elsa)
    assert verified.status_code == 200, verified.json
    assert verified.json["state"] == "blocked"  # the document still awaits review
    reviewed = review(admin, verified, verified.json["documents"][0]["_id"])
    assert reviewed.status_code == 200, reviewed.json
    assert reviewed.json["state"] == "running"
    assert reviewed.json["workflowState"] == "readyForApproval"
    assert reviewed.json["blockers"] == []
    assert reviewed.json["nextAction"]["rel"] == "apiture:approve"

    approved = _follow(admin, reviewed, "apiture:approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    assert approved.json["workflowState"] == "completed"
    assert set(task_states(approved.json).values()) == {"done"}
    assert approved.json["nextAction"] is None

    trail = [(r["from"], r["to"], r["userId"]) for r in audit(admin, approved)]
    assert trail == [(None, "running", "user-1"), ("running", "blocked", None),
                     ("blocked", "running", None), ("running", "approved", "admin-1")]


def test_business_journey_with_related_parties_from_creation_to_approval(user, admin):
    created = _create(user, new_application(
        BUSINESS_CHECKING, organization={"name": "Arendelle Ice Ltd"},
        applicants=[person("Elsa", "Snowqueen", "authorizedSigner")]))
    assert sorted(b["code"] for b in created.json["blockers"] if b["task"] in (
        "organization", "related-parties")) == [
        "organizationIncomplete", "organizationIncomplete",
        "relatedPartyMissing", "relatedPartyMissing"]
    assert created.json["nextAction"]["task"] == "organization"

    elsa = created.json["applicants"][0]
    seen = fetch(user, created)
    done = user.patch(href(seen.json, "self"), headers={"If-Match": seen.headers["ETag"]}, json={
        "organization": {"name": "Arendelle Ice Ltd", "type": "corporation",
                         "taxId": "12-3456789"},
        "applicants": [elsa, person("Anna", "Arendelle", "director"),
                       person("Kristoff", "Bjorgman", "beneficialOwner")],
        "documents": [document("articlesOfIncorporation"), document("governmentId")],
        "fundingAccount": FUNDING_ACCOUNT, "fundingAmount": money("5000.00"),
        "consents": consents()})
    assert done.status_code == 200, done.json
    assert done.json["state"] == "blocked"
    identity_tasks = [t for t in done.json["tasks"] if t["type"] == "identityVerification"]
    assert [t["label"] for t in identity_tasks] == [
        "Verify the identity of Elsa Snowqueen (authorizedSigner)",
        "Verify the identity of Anna Arendelle (director)",
        "Verify the identity of Kristoff Bjorgman (beneficialOwner)"]
    assert done.json["applicants"][0]["_id"] == elsa["_id"]  # kept across the update

    response = done
    for applicant in done.json["applicants"]:
        response = verify(admin, response, applicant["_id"])
        assert response.status_code == 200, response.json
    for item in done.json["documents"]:
        response = review(admin, response, item["_id"])
        assert response.status_code == 200, response.json
    assert response.json["state"] == "running"
    assert response.json["blockers"] == []

    approved = _follow(admin, response, "apiture:approve")
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
