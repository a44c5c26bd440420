"""A new user enrolls, completes its requirements and is approved, following links only."""

from __future__ import annotations

from conftest import API_KEY
from enrollment_support import (
    GOVERNMENT_ID,
    REQUIRED_CONSENTS,
    VERIFIED_IDENTITY,
    consents_patch,
    enrollment_body,
)


def test_enroll_and_get_approved_by_following_links(client, user, admin):
    root = client.get("/accountApplications/", headers={"API-Key": API_KEY}).json
    enrollments = root["_links"]["apiture:enrollments"]["href"]

    created = user.post(enrollments, enrollment_body())
    assert created.status_code == 201
    mine = created.headers["Location"]
    outstanding = {b["attributes"]["requirement"] for b in created.json["blockers"]}
    assert outstanding == {"identityVerification", "consent:digitalBankingTermsOfUse",
                           "consent:privacyPolicy", "document:governmentId"}

    # The institution finds the enrollment in its collection and records the verification.
    listed = admin.get(enrollments).json["_embedded"]["items"]
    theirs = next(i for i in listed if i["_id"] == created.json["_id"])["_links"]["self"]["href"]
    fetched = admin.get(theirs)
    assert "apiture:approve" not in fetched.json["_links"]
    verified = admin.patch(theirs, VERIFIED_IDENTITY, headers={"If-Match": fetched.headers["ETag"]})
    assert verified.status_code == 200

    # The applicant gives its consents and provides its document.
    current = user.get(mine)
    patch = consents_patch(REQUIRED_CONSENTS)
    patch["documents"] = [GOVERNMENT_ID]
    completed = user.patch(mine, patch, headers={"If-Match": current.headers["ETag"]})
    assert completed.json["blockers"] == []

    # Now, and only now, the institution sees an approve link, and follows it.
    approve = admin.get(theirs).json["_links"]["apiture:approve"]["href"]
    approved = admin.post(approve)
    assert approved.status_code == 200
    assert approved.json["state"] == "approved"
    assert not {"apiture:approve", "apiture:reject"} & set(approved.json["_links"])
    assert user.get(mine).json["state"] == "approved"


def test_the_institution_rejects_by_following_the_reject_link(user, admin):
    created = user.post("/enrollments", enrollment_body())
    reject = admin.get(created.headers["Location"]).json["_links"]["apiture:reject"]["href"]
    rejected = admin.post(reject)
    assert rejected.json["state"] == "rejected"
    assert "apiture:reject" not in rejected.json["_links"]
