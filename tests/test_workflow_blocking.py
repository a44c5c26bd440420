"""Automatic blocking and unblocking, in each direction, each audited with its cause."""

from __future__ import annotations

from workflow_support import (
    PERSONAL_CHECKING,
    PREMIERE_SAVINGS,
    audit,
    complete_personal,
    consents,
    document,
    fetch,
    href,
    new_application,
    patch,
    review,
    verify,
)


def _last_change(admin, response):
    return audit(admin, response)[-1]


def test_an_application_still_waiting_on_the_applicant_stays_running(user):
    created = user.post("/applications", new_application(PREMIERE_SAVINGS))
    assert created.json["state"] == "running"


def test_finishing_the_applicants_tasks_blocks_the_application(user, admin):
    created = user.post("/applications", new_application(PREMIERE_SAVINGS))
    done = patch(user, created, complete_personal())
    assert done.json["state"] == "blocked"
    change = _last_change(admin, done)
    assert (change["from"], change["to"], change["userId"]) == ("running", "blocked", None)
    assert "Application updated by user-1." in change["reason"]
    assert "waits on the institution" in change["reason"]
    assert "Verify the identity of Elsa Snowqueen" in change["reason"]


def test_an_application_created_complete_is_blocked_at_once(user, admin):
    created = user.post("/applications", complete_personal())
    assert created.status_code == 201
    assert created.json["state"] == "blocked"
    trail = audit(admin, created)
    assert [(r["from"], r["to"]) for r in trail] == [(None, "running"), ("running", "blocked")]
    assert trail[1]["reason"].startswith("Application created.")


def test_a_blocked_application_is_listed_as_blocked(user, admin):
    created = user.post("/applications", complete_personal())
    blocked = user.get("/blockedApplications").json["_embedded"]["items"]
    assert [item["_id"] for item in blocked] == [created.json["_id"]]
    assert user.get("/runningApplications").json["count"] == 0


def test_a_rejected_document_returns_the_application_to_the_applicant(user, admin):
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    assert created.json["state"] == "blocked"
    rejected = review(admin, created, created.json["documents"][0]["_id"], "rejected",
                      "The photo is unreadable.")
    assert rejected.status_code == 200, rejected.json
    assert rejected.json["state"] == "running"
    assert [b["code"] for b in rejected.json["blockers"] if b["actor"] == "applicant"] == [
        "documentRejected"]
    assert rejected.json["nextAction"]["code"] == "documentRejected"
    change = _last_change(admin, rejected)
    assert (change["from"], change["to"], change["userId"]) == ("blocked", "running", None)
    assert "reviewed by admin-1: rejected" in change["reason"]
    assert "The applicant has to act" in change["reason"]


def test_a_new_document_after_a_rejection_blocks_again(user, admin):
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    rejected = review(admin, created, created.json["documents"][0]["_id"], "rejected",
                      "The photo is unreadable.")
    mine = fetch(user, rejected)
    again = patch(user, mine, {"documents": [
        *mine.json["documents"], document("governmentId", "https://files.example.com/id2.pdf")]})
    assert again.json["state"] == "blocked"
    assert [d["state"] for d in again.json["documents"]] == ["rejected", "pending"]


def test_a_failed_identity_verification_returns_the_application_to_the_applicant(user, admin):
    created = user.post("/applications", complete_personal())
    elsa = created.json["applicants"][0]["_id"]
    failed = verify(admin, created, elsa, "failed", "The name does not match the records.")
    assert failed.status_code == 200, failed.json
    assert failed.json["state"] == "running"
    assert [b["code"] for b in failed.json["blockers"]] == ["identityVerificationFailed"]
    assert failed.json["blockers"][0]["field"] == "applicants[0].contact"


def test_correcting_the_details_after_a_failed_verification_blocks_again(user, admin):
    created = user.post("/applications", complete_personal())
    elsa = created.json["applicants"][0]
    verify(admin, created, elsa["_id"], "failed", "The name does not match the records.")
    mine = fetch(user, created)
    corrected = dict(elsa, contact={**elsa["contact"], "lastName": "of Arendelle"})
    again = patch(user, mine, {"applicants": [corrected]})
    assert again.json["state"] == "blocked"
    assert [b["code"] for b in again.json["blockers"]] == ["identityVerificationPending"]


def test_the_end_of_the_review_returns_the_application_to_running(user, admin):
    created = user.post("/applications", complete_personal())
    verified = verify(admin, created, created.json["applicants"][0]["_id"])
    assert verified.json["state"] == "running"
    assert verified.json["workflowState"] == "readyForApproval"
    change = _last_change(admin, verified)
    assert "Identity verification of Elsa Snowqueen recorded by admin-1: verified." in (
        change["reason"])
    assert "review is complete" in change["reason"]


def test_the_applicant_undoing_a_task_while_blocked_unblocks(user, admin):
    created = user.post("/applications", complete_personal())
    revoked = patch(user, created, {"consents": [
        *consents("productTermsAndConditions", "electronicConsent"),
        {"type": "privacyPolicy", "state": "revoked"}]})
    assert revoked.json["state"] == "running"
    assert [b["code"] for b in revoked.json["blockers"] if b["actor"] == "applicant"] == [
        "consentRevoked"]


def test_the_institution_still_unblocks_by_hand(user, admin):
    created = user.post("/applications", complete_personal())
    seen = fetch(admin, created)
    started = admin.post(href(seen.json, "apiture:start"))
    assert started.status_code == 200, started.json
    assert started.json["state"] == "running"
    assert _last_change(admin, started)["userId"] == "admin-1"


def test_no_client_can_block_an_application(user, admin):
    created = user.post("/applications", new_application(PREMIERE_SAVINGS))
    assert not any(rel.startswith("apiture:block")
                   for rel in fetch(admin, created).json["_links"])
    assert admin.post(f"/blockedApplications?application={created.json['_id']}").status_code == 405
