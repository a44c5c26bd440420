"""Approval needs every requirement: identity verified, consents given, documents present."""

from __future__ import annotations

import copy

import pytest
from enrollment_support import (
    GOVERNMENT_ID,
    REFERENCE_ENROLLMENT,
    REQUIRED_CONSENTS,
    VERIFIED_IDENTITY,
    complete_requirements,
    consents_patch,
    contact_with,
    create,
)

ALL_MISSING = ["consent:digitalBankingTermsOfUse", "consent:privacyPolicy",
               "document:governmentId", "identityVerification"]


@pytest.fixture
def enrollment(user):
    """The reference's example, created by its applicant: nothing complete yet."""
    return create(user)


def approve(admin, enrollment_id: str, **kwargs):
    return admin.post(f"/approvedEnrollments?enrollment={enrollment_id}", **kwargs)


def missing(response) -> list[str]:
    assert response.status_code == 409, response.json
    error = response.json["_error"]
    assert error["type"] == "approvalBlocked"
    return sorted(item["attributes"]["requirement"] for item in error["_embedded"]["errors"])


def patch(api, href: str, body: dict):
    etag = api.get(href).headers["ETag"]
    response = api.patch(href, body, headers={"If-Match": etag})
    assert response.status_code == 200, response.json
    return response


def test_new_enrollment_lists_every_outstanding_requirement(enrollment):
    requirements = sorted(b["attributes"]["requirement"] for b in enrollment.json["blockers"])
    assert requirements == ALL_MISSING


def test_approval_is_409_listing_each_missing_requirement(admin, enrollment):
    assert missing(approve(admin, enrollment.json["_id"])) == ALL_MISSING


def test_approve_link_is_absent_while_requirements_are_missing(admin, enrollment):
    links = admin.get(enrollment.headers["Location"]).json["_links"]
    assert "apiture:approve" not in links
    assert "apiture:reject" in links


def test_requirements_complete_one_by_one(user, admin, enrollment):
    href = enrollment.headers["Location"]
    patch(admin, href, VERIFIED_IDENTITY)
    assert missing(approve(admin, enrollment.json["_id"])) == ALL_MISSING[:3]

    patch(user, href, consents_patch(REQUIRED_CONSENTS[:1]))
    assert missing(approve(admin, enrollment.json["_id"])) == [
        "consent:privacyPolicy", "document:governmentId"]

    patch(user, href, consents_patch(REQUIRED_CONSENTS))
    assert missing(approve(admin, enrollment.json["_id"])) == ["document:governmentId"]
    assert "apiture:approve" not in admin.get(href).json["_links"]

    patch(user, href, {"documents": [GOVERNMENT_ID]})
    fetched = admin.get(href).json
    assert fetched["blockers"] == []
    assert fetched["_links"]["apiture:approve"]["href"] == (
        f"http://localhost/accountApplications/approvedEnrollments?enrollment={fetched['_id']}")


def test_approval_succeeds_once_every_requirement_is_complete(user, admin, enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    response = approve(admin, enrollment.json["_id"])
    assert response.status_code == 200, response.json
    assert response.json["state"] == "approved"
    assert response.json["workflowState"] == "completed"
    assert response.json["completedAt"] is not None
    assert "apiture:approve" not in response.json["_links"]


def test_revoked_consent_does_not_count(user, admin, enrollment):
    href = enrollment.headers["Location"]
    complete_requirements(user, admin, href)
    patch(user, href, consents_patch([REQUIRED_CONSENTS[0],
                                      {"type": "privacyPolicy", "state": "revoked"}]))
    assert missing(approve(admin, enrollment.json["_id"])) == ["consent:privacyPolicy"]


def test_failed_identity_verification_blocks_approval(user, admin, enrollment):
    href = enrollment.headers["Location"]
    complete_requirements(user, admin, href)
    patch(admin, href, {"applicant": {"verification": {"verifications": [
        {"type": "quiz", "state": "failed", "createdAt": "2024-03-01T10:05:00Z"}]}}})
    assert missing(approve(admin, enrollment.json["_id"])) == ["identityVerification"]


def test_users_cannot_verify_their_own_identity(user, admin, enrollment):
    href = enrollment.headers["Location"]
    response = patch(user, href, VERIFIED_IDENTITY)
    assert "identityVerification" not in response.json["applicant"]["contact"]
    assert "identityVerification" in missing(approve(admin, enrollment.json["_id"]))


def test_changing_the_verified_identity_voids_the_verification(user, admin, enrollment):
    href = enrollment.headers["Location"]
    complete_requirements(user, admin, href)
    applicant = contact_with(lastName="Smythe")
    applicant["consents"] = admin.get(href).json["applicant"]["consents"]
    response = patch(user, href, {"applicant": applicant})
    assert response.json["applicant"]["verified"] is False
    assert missing(approve(admin, enrollment.json["_id"])) == ["identityVerification"]


def test_editing_other_fields_keeps_the_verification(user, admin, enrollment):
    href = enrollment.headers["Location"]
    complete_requirements(user, admin, href)
    response = patch(user, href, {"applicant": {"contact": {"occupation": "management"}}})
    assert response.json["applicant"]["verified"] is True
    assert approve(admin, enrollment.json["_id"]).status_code == 200


def test_a_document_at_the_required_uri_satisfies_the_requirement(user, admin):
    body = copy.deepcopy(REFERENCE_ENROLLMENT)
    body["requiredDocuments"][0]["documentUri"] = "https://files.example.com/forms/w9"
    body["documents"] = [{"uri": "https://files.example.com/forms/w9"}]
    created = create(user, body)
    requirements = [b["attributes"]["requirement"] for b in created.json["blockers"]]
    assert "document:governmentId" not in requirements


def test_document_not_required_if_verified_stops_blocking_once_verified(user, admin):
    body = copy.deepcopy(REFERENCE_ENROLLMENT)
    body["requiredDocuments"][0]["requireIfVerified"] = False
    created = create(user, body)
    href = created.headers["Location"]
    assert "document:governmentId" in [
        b["attributes"]["requirement"] for b in created.json["blockers"]]
    response = patch(admin, href, VERIFIED_IDENTITY)
    assert "document:governmentId" not in [
        b["attributes"]["requirement"] for b in response.json["blockers"]]


def test_users_cannot_drop_a_required_document_after_creation(user, admin, enrollment):
    href = enrollment.headers["Location"]
    response = patch(user, href, {"requiredDocuments": []})
    assert response.json["requiredDocuments"] == REFERENCE_ENROLLMENT["requiredDocuments"]


def test_the_institution_may_change_required_documents(user, admin, enrollment):
    href = enrollment.headers["Location"]
    response = patch(admin, href, {"requiredDocuments": []})
    assert response.json["requiredDocuments"] == []
