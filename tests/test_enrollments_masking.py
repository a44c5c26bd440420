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
