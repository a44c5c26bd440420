"""Helpers for the enrollment tests: the reference's example body and requirement data."""

from __future__ import annotations

import copy
from typing import Any

from accountapps.representations.examples import CREATE_ENROLLMENT

#: The reference's createEnrollment request example, verbatim (also the example of
#: the OpenAPI document).
REFERENCE_ENROLLMENT: dict[str, Any] = copy.deepcopy(CREATE_ENROLLMENT)

#: How the institution records a passed identity verification (administrators only).
VERIFIED_IDENTITY = {
    "applicant": {"contact": {"identityVerification": {
        "provider": "IDology", "sessionId": "654321", "scoredAt": "2024-03-01T10:00:00.000Z",
        "score": "passed", "state": "verified"}}},
}

REQUIRED_CONSENTS = [
    {"type": "digitalBankingTermsOfUse", "state": "given"},
    {"type": "privacyPolicy", "state": "given"},
]

GOVERNMENT_ID = {"uri": "https://files.example.com/vault/files/dl-1234",
                 "contentType": "image/jpeg", "type": "governmentId",
                 "category": "driversLicense"}


def enrollment_body(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the reference's example body, with top-level changes."""
    body = copy.deepcopy(REFERENCE_ENROLLMENT)
    body.update(copy.deepcopy(changes))
    return body


def applicant_with(**changes: Any) -> dict[str, Any]:
    """The example's applicant with some fields changed."""
    applicant = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"])
    applicant.update(copy.deepcopy(changes))
    return applicant


def contact_with(**changes: Any) -> dict[str, Any]:
    """An ``applicant`` body whose contact has some fields changed."""
    applicant = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"])
    applicant["contact"].update(copy.deepcopy(changes))
    return applicant


def consents_patch(consents: list[dict[str, Any]]) -> dict[str, Any]:
    """A merge patch replacing the applicant's consents (the example's first one kept)."""
    example = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"]["consents"][0])
    return {"applicant": {"consents": [example, *copy.deepcopy(consents)]}}


def create(api: Any, body: dict[str, Any] | None = None) -> Any:
    """POST an enrollment (the reference's example by default); assert it was created."""
    response = api.post("/enrollments", body if body is not None else enrollment_body())
    assert response.status_code == 201, response.json
    return response


def complete_requirements(user: Any, admin: Any, href: str) -> Any:
    """Record a verified identity (institution), consents and the document (applicant)."""
    response = admin.get(href)
    response = admin.patch(href, VERIFIED_IDENTITY, headers={"If-Match": response.headers["ETag"]})
    assert response.status_code == 200, response.json
    patch = consents_patch(REQUIRED_CONSENTS)
    patch["documents"] = [*REFERENCE_ENROLLMENT["documents"], GOVERNMENT_ID]
    response = user.patch(href, patch, headers={"If-Match": response.headers["ETag"]})
    assert response.status_code == 200, response.json
    return response
