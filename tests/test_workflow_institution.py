"""The institution's inputs: administrator-only, guarded, and never settable by a client."""

from __future__ import annotations

from workflow_support import (
    PERSONAL_CHECKING,
    accept_all,
    complete_personal,
    document,
    fetch,
    href,
    patch,
    review,
    task_states,
    verify,
    verify_all,
)

INSTITUTION_RELS = ("apiture:identityVerifications", "apiture:documentReviews")


def _with_document(user):
    return user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))


def _url(application, name):
    return f"/applications/{application.json['_id']}/{name}"


def test_only_administrators_see_the_institutions_links(user, admin):
    created = _with_document(user)
    assert not set(INSTITUTION_RELS) & set(created.json["_links"])
    assert set(INSTITUTION_RELS) <= set(fetch(admin, created).json["_links"])


def test_no_document_review_link_without_a_document_to_review(user, admin):
    created = user.post("/applications", complete_personal(PERSONAL_CHECKING))
    assert created.status_code == 201
    assert not fetch(admin, created).json.get("documents")
    links = fetch(admin, created).json["_links"]
    assert "apiture:documentReviews" not in links
    assert "apiture:identityVerifications" in links


def test_no_identity_verification_link_without_an_applicant(user, admin):
    body = {**complete_personal(PERSONAL_CHECKING, documents=[document("governmentId")]),
            "applicants": []}
    created = user.post("/applications", body)
    assert created.status_code == 201
    links = fetch(admin, created).json["_links"]
    assert "apiture:identityVerifications" not in links
    assert "apiture:documentReviews" in links


def test_an_applicant_cannot_record_an_identity_verification(user):
    created = _with_document(user)
    response = user.post(_url(created, "identityVerifications"), json={
        "applicant": created.json["applicants"][0]["_id"], "result": "verified"})
    assert response.status_code == 403
    assert response.json["_error"]["type"] == "forbidden"
    assert fetch(user, created).json["state"] == "blocked"


def test_an_applicant_cannot_review_a_document(user):
    created = _with_document(user)
    response = user.post(_url(created, "documentReviews"), json={
        "document": created.json["documents"][0]["_id"], "decision": "accepted"})
    assert response.status_code == 403


def test_someone_elses_application_is_not_found(user, other):
    created = _with_document(user)
    response = other.post(_url(created, "documentReviews"), json={
        "document": created.json["documents"][0]["_id"], "decision": "accepted"})
    assert response.status_code == 404


def test_a_stale_if_match_is_refused(user, admin):
    created = _with_document(user)
    seen = fetch(admin, created)
    verify(admin, created, created.json["applicants"][0]["_id"])
    response = admin.post(href(seen.json, "apiture:documentReviews"),
                          headers={"If-Match": seen.headers["ETag"]},
                          json={"document": created.json["documents"][0]["_id"],
                                "decision": "accepted"})
    assert response.status_code == 412


def test_a_current_if_match_is_accepted_and_the_etag_changes(user, admin):
    created = _with_document(user)
    seen = fetch(admin, created)
    response = admin.post(href(seen.json, "apiture:documentReviews"),
                          headers={"If-Match": seen.headers["ETag"]},
                          json={"document": created.json["documents"][0]["_id"],
                                "decision": "accepted"})
    assert response.status_code == 200
    assert response.headers["ETag"] != seen.headers["ETag"]
    assert response.json["documents"][0]["state"] == "accepted"


def test_an_unknown_applicant_is_unprocessable(user, admin):
    created = _with_document(user)
    response = verify(admin, created, "no-such-applicant")
    assert response.status_code == 422
    assert response.json["_error"]["_embedded"]["errors"][0]["type"] == "unknownApplicant"


def test_an_unknown_document_is_unprocessable(user, admin):
    created = _with_document(user)
    response = review(admin, created, "no-such-document")
    assert response.status_code == 422


def test_a_rejection_needs_a_reason(user, admin):
    created = _with_document(user)
    response = review(admin, created, created.json["documents"][0]["_id"], "rejected")
    assert response.status_code == 400
    assert response.json["_error"]["_embedded"]["errors"][0]["attributes"]["name"] == "reason"


def test_a_failed_verification_needs_a_reason(user, admin):
    created = _with_document(user)
    response = verify(admin, created, created.json["applicants"][0]["_id"], "failed")
    assert response.status_code == 400


def test_an_unknown_result_is_a_bad_request(user, admin):
    created = _with_document(user)
    response = verify(admin, created, created.json["applicants"][0]["_id"], "probably")
    assert response.status_code == 400


def test_a_completed_application_takes_no_more_reviews(user, admin):
    created = _with_document(user)
    reviewed = accept_all(admin, verify_all(admin, created))
    admin.post(href(reviewed.json, "apiture:approve"))
    assert not set(INSTITUTION_RELS) & set(fetch(admin, created).json["_links"])
    response = admin.post(_url(created, "documentReviews"), json={
        "document": created.json["documents"][0]["_id"], "decision": "rejected",
        "reason": "Too late."})
    assert response.status_code == 409


def test_task_state_in_a_client_body_is_ignored(user, admin):
    created = _with_document(user)
    forged = patch(user, created, {
        "tasks": [{"_id": "funding", "state": "done"}], "blockers": [],
        "workflowState": "readyForApproval", "nextAction": None,
        "identityVerifications": [{"applicant": created.json["applicants"][0]["_id"],
                                   "result": "verified"}],
        "documents": [{**created.json["documents"][0], "state": "accepted"}]})
    assert forged.status_code == 200, forged.json
    assert forged.json["documents"][0]["state"] == "pending"
    assert forged.json["identityVerifications"] == []
    assert forged.json["state"] == "blocked"
    assert {b["code"] for b in fetch(admin, created).json["blockers"]} == {
        "identityVerificationPending", "documentReviewPending"}


def test_sending_back_the_representation_changes_no_task(user, admin):
    created = _with_document(user)
    reviewed = review(admin, created, created.json["documents"][0]["_id"])
    mine = fetch(user, reviewed)
    # The whole representation, masked account number included, goes back as it came.
    assert mine.json["fundingAccount"]["accountNumbers"]["full"] != "9876543210"
    replaced = user.patch(href(mine.json, "self"), json=mine.json,
                          headers={"If-Match": mine.headers["ETag"]})
    assert replaced.status_code == 200, replaced.json
    assert task_states(replaced.json) == task_states(mine.json)
    assert replaced.json["applicants"][0]["_id"] == mine.json["applicants"][0]["_id"]


def test_changing_a_verified_applicants_details_needs_a_new_verification(user, admin):
    created = _with_document(user)
    verified = verify(admin, created, created.json["applicants"][0]["_id"])
    mine = fetch(user, verified)
    elsa = mine.json["applicants"][0]
    renamed = patch(user, mine, {"applicants": [
        {**elsa, "contact": {**elsa["contact"], "firstName": "Elsabeth"}}]})
    assert "identityVerificationPending" in [b["code"] for b in renamed.json["blockers"]]


def test_changing_an_accepted_documents_content_needs_a_new_review(user, admin):
    created = _with_document(user)
    reviewed = review(admin, created, created.json["documents"][0]["_id"])
    mine = fetch(user, reviewed)
    replaced = patch(user, mine, {"documents": [
        {**mine.json["documents"][0], "uri": "https://files.example.com/other.pdf"}]})
    assert replaced.json["documents"][0]["state"] == "pending"
    assert "documentReviewPending" in [b["code"] for b in replaced.json["blockers"]]


def test_verification_results_are_shown_without_internal_details(user, admin):
    created = _with_document(user)
    verified = verify(admin, created, created.json["applicants"][0]["_id"])
    (record,) = fetch(user, verified).json["identityVerifications"]
    assert record["result"] == "verified"
    assert record["userId"] == "admin-1"
    assert "fingerprint" not in record
