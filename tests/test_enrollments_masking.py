"""Tax ids, phone numbers, email and postal addresses and birthdates need profiles/readPii."""

from __future__ import annotations

import pytest
from conftest import USER_SCOPES, Api, headers_for
from enrollment_support import create


@pytest.fixture
def enrollment(admin):
    """The example created by the institution: it includes a fraud report."""
    return create(admin)


def as_user(client, scopes: str) -> Api:
    return Api(client, headers_for("admin-1", scopes))  # the creator, with other scopes


def fetch(client, enrollment, scopes: str) -> dict:
    return as_user(client, scopes).get(enrollment.headers["Location"]).json


def test_without_read_pii_personal_data_is_masked(client, enrollment):
    body = fetch(client, enrollment, USER_SCOPES)
    contact = body["applicant"]["contact"]
    assert contact["identification"][0]["value"] == "*******1111"
    assert contact["phones"][0]["number"].endswith("5555")
    assert contact["phones"][0]["number"].startswith("*")
    assert contact["emailAddresses"][0]["value"] == "*****@apiture.com"
    assert contact["addresses"][0]["addressLine1"] == "*****"
    assert contact["addresses"][0]["city"] == "Wilmington"
    assert contact["birthdate"] == "*****"
    assert body["applicant"]["user"]["identification"][0]["value"] == "*******3333"


def test_without_read_pii_the_fraud_report_inputs_are_masked(client, enrollment):
    identity = fetch(client, enrollment, USER_SCOPES)["applicant"]["fraudReport"]["inputs"][
        "identity"]
    assert identity["taxId"].startswith("*")
    assert identity["email"] == "*****@apiture.com"
    assert identity["birthdate"] == "*****"
    assert identity["firstName"] == "John"


def test_every_applicant_is_masked(client, enrollment):
    body = fetch(client, enrollment, USER_SCOPES)
    assert body["applicants"][0]["contact"]["identification"][0]["value"] == "*******1111"


@pytest.mark.parametrize("scope", ["profiles/readPii", "profiles/full"])
def test_read_pii_scope_shows_personal_data(client, enrollment, scope):
    body = fetch(client, enrollment, f"{USER_SCOPES} {scope}")
    contact = body["applicant"]["contact"]
    assert contact["identification"][0]["value"] == "111-11-1111"
    assert contact["phones"][0]["number"] == "(555) 555-5555"
    assert contact["emailAddresses"][0]["value"] == "api@apiture.com"
    assert contact["birthdate"] == "1974-10-27"


def test_names_are_not_masked(client, enrollment):
    body = fetch(client, enrollment, USER_SCOPES)
    assert body["applicantName"] == "John Smith"
    assert body["applicant"]["contact"]["lastName"] == "Smith"


# --- values sent back in PUT and PATCH --------------------------------------------

@pytest.fixture
def mine(user):
    """An enrollment of ``user-1``, who has no profiles/readPii."""
    return create(user)


def stored_contact(admin, enrollment) -> dict:
    return admin.get(enrollment.headers["Location"]).json["applicant"]["contact"]


@pytest.mark.parametrize("field, value", [("firstName", "*Star"), ("lastName", "**Asterisk"),
                                          ("middleName", "*****")])
def test_a_name_beginning_with_an_asterisk_is_stored_by_patch(user, admin, mine, field, value):
    response = user.patch(mine.headers["Location"], {"applicant": {"contact": {field: value}}},
                          headers={"If-Match": mine.headers["ETag"]})
    assert response.status_code == 200, response.json
    assert response.json["applicant"]["contact"][field] == value
    assert stored_contact(admin, mine)[field] == value


def test_a_name_beginning_with_an_asterisk_is_stored_by_put(user, admin, mine):
    fetched = user.get(mine.headers["Location"])
    body = fetched.json
    body["applicant"]["contact"]["lastName"] = "**Asterisk"
    response = user.put(mine.headers["Location"], body,
                        headers={"If-Match": fetched.headers["ETag"]})
    assert response.status_code == 200, response.json
    assert stored_contact(admin, mine)["lastName"] == "**Asterisk"
    assert response.json["applicantName"] == "John **Asterisk"


@pytest.mark.parametrize("field, index, key, value", [
    ("identification", 0, "value", "*******2222"),  # shown: *******1111
    ("phones", 0, "number", "**********0000"),  # shown: **********5555
    ("phones", 1, "number", "*****"),
    ("emailAddresses", 0, "value", "*****@other.com"),  # shown: *****@apiture.com
])
def test_a_masked_value_that_is_not_the_one_shown_is_400(user, mine, field, index, key, value):
    fetched = user.get(mine.headers["Location"])
    body = fetched.json
    assert body["applicant"]["contact"][field][index][key] != value
    body["applicant"]["contact"][field][index][key] = value
    response = user.put(mine.headers["Location"], body,
                        headers={"If-Match": fetched.headers["ETag"]})
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidFields"
    assert user.get(mine.headers["Location"]).headers["ETag"] == fetched.headers["ETag"]


def test_a_masked_email_sent_back_by_patch_keeps_the_stored_one(user, admin, mine):
    fetched = user.get(mine.headers["Location"])
    emails = fetched.json["applicant"]["contact"]["emailAddresses"]
    emails[1]["type"] = "personal"
    response = user.patch(mine.headers["Location"],
                          {"applicant": {"contact": {"emailAddresses": emails}}},
                          headers={"If-Match": fetched.headers["ETag"]})
    assert response.status_code == 200, response.json
    stored = stored_contact(admin, mine)["emailAddresses"]
    assert [item["value"] for item in stored] == ["api@apiture.com", "support@apiture.com"]
    assert stored[1]["type"] == "personal"


def error_names(response) -> list[str]:
    return [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]


def _set_list_item_id(body: dict, place: str, value: object) -> None:
    """Set ``_id`` of the first item of the list at ``place`` (dotted, from the body)."""
    target: object = body
    for part in place.split("."):
        target = target[int(part)] if part.isdigit() else target[part]  # type: ignore[index]
    target[0]["_id"] = value  # type: ignore[index]


@pytest.mark.parametrize("bad_id", [[], {}])
@pytest.mark.parametrize("place", [
    "applicant.consents", "documents", "applicant.contact.identification",
    "applicant.contact.emailAddresses", "applicant.contact.phones",
    "applicant.contact.addresses", "applicants.0.contact.phones"])
def test_a_list_item_id_that_is_not_a_string_is_400(user, mine, place, bad_id):
    fetched = user.get(mine.headers["Location"])
    body = fetched.json
    _set_list_item_id(body, place, bad_id)
    response = user.put(mine.headers["Location"], body,
                        headers={"If-Match": fetched.headers["ETag"]})
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidFields"
    assert error_names(response) == [f"{place}.0._id"]  # masked values sent back are kept


@pytest.mark.parametrize("bad_id", [[], {}])
def test_a_list_item_id_that_is_not_a_string_is_400_in_a_patch(user, mine, bad_id):
    response = user.patch(mine.headers["Location"],
                          {"applicant": {"contact": {"phones": [{"_id": bad_id}]}}},
                          headers={"If-Match": mine.headers["ETag"]})
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidFields"
    assert "applicant.contact.phones.0._id" in error_names(response)

