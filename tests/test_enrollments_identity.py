"""A verification vouches for the person verified: a user who changes who that is loses it.

The institution records ``identityVerification`` on an applicant's contact or on
its user (for ``applicant`` or an item of ``applicants``). Whichever holds it, a
user's change to the names, identification or birthdate of either part drops
the verification, so approval is blocked until the institution verifies again;
sending back what was fetched, masked values included, changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import USER_SCOPES, Api, headers_for
from enrollment_support import (
    GOVERNMENT_ID,
    REFERENCE_ENROLLMENT,
    REQUIRED_CONSENTS,
    VERIFIED_IDENTITY,
    create,
    enrollment_body,
)

#: The institution's passed verification, as it records it on a contact or a user.
PASSED = VERIFIED_IDENTITY["applicant"]["contact"]["identityVerification"]

#: Somebody else's identity, as the user of the report sends it.
MALLORY = {"firstName": "Mallory", "lastName": "Other", "birthdate": "1980-01-01",
           "identification": [{"type": "taxId", "value": "999-88-7777"}]}

PARTS = ("contact", "user")


@pytest.fixture
def applicant(client) -> Api:
    """``user-1`` reading personal data (``profiles/readPii``), as in the report."""
    return Api(client, headers_for("user-1", f"{USER_SCOPES} profiles/readPii"))


@pytest.fixture
def masked(client) -> Api:
    """``user-1`` without ``profiles/readPii``: tax ids and birthdates come back masked."""
    return Api(client, headers_for("user-1", USER_SCOPES))


def write(api: Api, method: str, href: str, body: dict[str, Any]) -> Any:
    """PATCH or PUT ``body`` with the current tag; assert it was accepted."""
    response = getattr(api, method)(href, body, headers={"If-Match": api.get(href).headers["ETag"]})
    assert response.status_code == 200, response.json
    return response


def person(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """The applicant at ``where``: ``applicant`` or ``applicants`` (its first item)."""
    return doc["applicant"] if where == "applicant" else doc["applicants"][0]


def ready(api: Api, admin: Api, verified_part: str, where: str = "applicant") -> str:
    """An enrollment of ``api``'s user with every requirement complete; its href.

    The institution records the verification on ``verified_part`` of the applicant at
    ``where``; the user then gives the consents and provides the document.
    """
    body = enrollment_body()
    if where == "applicants":
        del body["applicant"]  # the primary applicant is then applicants[0]
    href = create(api, body).headers["Location"]
    fetched = admin.get(href).json
    if where == "applicant":
        verification = {"applicant": {verified_part: {"identityVerification": PASSED}}}
    else:
        person(fetched, where)[verified_part]["identityVerification"] = PASSED
        verification = {"applicants": fetched["applicants"]}
    write(admin, "patch", href, verification)
    fetched = api.get(href).json
    person(fetched, where)["consents"] += copy.deepcopy(REQUIRED_CONSENTS)
    write(api, "patch", href, {where: fetched[where],
                               "documents": [*REFERENCE_ENROLLMENT["documents"], GOVERNMENT_ID]})
    done = admin.get(href).json
    assert done["blockers"] == [] and person(done, where)["verified"] is True, done
    return href


def changed(api: Api, href: str, method: str, where: str, part: str) -> dict[str, Any]:
    """The body with which the user gives ``part`` of the applicant Mallory's identity."""
    if method == "patch" and where == "applicant":
        return {"applicant": {part: copy.deepcopy(MALLORY)}}
    fetched = api.get(href).json
    person(fetched, where)[part].update(copy.deepcopy(MALLORY))
    # A merge patch replaces a list whole: PATCH sends every applicant back.
    return fetched if method == "put" else {where: fetched[where]}


def approve(admin: Api, href: str) -> Any:
    return admin.post(f"/approvedEnrollments?enrollment={href.rsplit('/', 1)[1]}")


def assert_verification_dropped(admin: Api, href: str, where: str) -> None:
    """The verification is gone from both parts, and approval waits for a new one."""
    stored = person(admin.get(href).json, where)
    assert stored["verified"] is False
    assert all("identityVerification" not in stored[part] for part in PARTS if part in stored)
    response = approve(admin, href)
    assert response.status_code == 409, response.json
    requirements = [item["attributes"]["requirement"]
                    for item in response.json["_error"]["_embedded"]["errors"]]
    assert requirements == ["identityVerification"]


# --- changing the verified identity --------------------------------------------

def test_reported_identity_swap_after_verification_on_the_user_is_not_approved(
        applicant, admin):
    href = ready(applicant, admin, "user")
    response = write(applicant, "patch", href, {"applicant": {"user": copy.deepcopy(MALLORY)}})
    assert response.json["applicant"]["verified"] is False
    assert "identityVerification" not in response.json["applicant"]["user"]
    assert [b["attributes"]["requirement"] for b in response.json["blockers"]] == [
        "identityVerification"]
    assert_verification_dropped(admin, href, "applicant")


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("changed_part", PARTS)
@pytest.mark.parametrize("verified_part", PARTS)
def test_changing_the_applicants_identity_drops_the_verification(
        applicant, admin, verified_part, changed_part, method):
    href = ready(applicant, admin, verified_part)
    write(applicant, method, href, changed(applicant, href, method, "applicant", changed_part))
    assert_verification_dropped(admin, href, "applicant")


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("changed_part", PARTS)
@pytest.mark.parametrize("verified_part", PARTS)
def test_changing_an_applicants_item_identity_drops_its_verification(
        applicant, admin, verified_part, changed_part, method):
    href = ready(applicant, admin, verified_part, where="applicants")
    write(applicant, method, href, changed(applicant, href, method, "applicants", changed_part))
    assert_verification_dropped(admin, href, "applicants")


@pytest.mark.parametrize("field", ["firstName", "middleName", "lastName", "birthdate",
                                   "identification"])
def test_each_identity_field_of_the_user_counts(applicant, admin, field):
    href = ready(applicant, admin, "user")
    write(applicant, "patch", href, {"applicant": {"user": {field: MALLORY.get(
        field, "Eve")}}})
    assert_verification_dropped(admin, href, "applicant")


def test_removing_the_verified_user_drops_the_verification(applicant, admin):
    href = ready(applicant, admin, "contact")
    write(applicant, "patch", href, {"applicant": {"user": None}})
    assert_verification_dropped(admin, href, "applicant")


# --- sending back what was fetched ------------------------------------------------

@pytest.mark.parametrize("reader", ["applicant", "masked"])
@pytest.mark.parametrize("where", ["applicant", "applicants"])
@pytest.mark.parametrize("verified_part", PARTS)
def test_sending_back_the_fetched_enrollment_keeps_the_verification(
        request, admin, verified_part, where, reader):
    api = request.getfixturevalue(reader)
    href = ready(api, admin, verified_part, where=where)
    fetched = api.get(href).json
    write(api, "put", href, fetched)
    write(api, "patch", href, {where: fetched[where]})
    stored = person(admin.get(href).json, where)
    assert stored["verified"] is True
    assert stored[verified_part]["identityVerification"] == PASSED
    assert approve(admin, href).status_code == 200


def test_editing_the_users_other_fields_keeps_the_verification(applicant, admin):
    href = ready(applicant, admin, "user")
    write(applicant, "patch", href, {"applicant": {"user": {"occupation": "management",
                                                            "preferredName": "Johnny"}}})
    assert approve(admin, href).status_code == 200
