"""Field-by-field validation of enrollment bodies: each bad field is named."""

from __future__ import annotations

import copy

import pytest
from enrollment_support import REFERENCE_ENROLLMENT, contact_with, enrollment_body


def bad_fields(response) -> list[str]:
    assert response.status_code == 400, response.json
    assert response.json["_error"]["type"] == "invalidFields"
    return [error["attributes"]["name"] for error in response.json["_error"]["_embedded"]["errors"]]


def with_address(**changes):
    contact = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"]["contact"])
    contact["addresses"][0].update(changes)
    return enrollment_body(applicant={**REFERENCE_ENROLLMENT["applicant"], "contact": contact})


@pytest.mark.parametrize("birthdate", ["1974-13-27", "27/10/1974", "1974-02-30", "tomorrow"])
def test_birthdate_must_be_a_real_date(user, birthdate):
    response = user.post("/enrollments",
                         enrollment_body(applicant=contact_with(birthdate=birthdate)))
    assert bad_fields(response) == ["applicant.contact.birthdate"]


def test_birthdate_must_be_in_the_past(user):
    response = user.post("/enrollments",
                         enrollment_body(applicant=contact_with(birthdate="2999-01-01")))
    assert bad_fields(response) == ["applicant.contact.birthdate"]


def test_timestamps_must_be_rfc3339(user):
    body = enrollment_body()
    body["documents"][0]["revisedAt"] = "2019-08-24 14:15"
    assert bad_fields(user.post("/enrollments", body)) == ["documents.0.revisedAt"]


def test_citizenship_country_must_be_iso_3166(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(
        citizenship=[{"countryCode": "USA", "state": "citizen"}])))
    assert bad_fields(response) == ["applicant.contact.citizenship.0.countryCode"]


def test_address_country_must_be_iso_3166(user):
    response = user.post("/enrollments", with_address(countryCode="XX"))
    assert bad_fields(response) == ["applicant.contact.addresses.0.countryCode"]


def test_us_address_region_must_be_a_state_code(user):
    response = user.post("/enrollments", with_address(regionCode="ZZ"))
    assert bad_fields(response) == ["applicant.contact.addresses.0.regionCode"]


def test_us_address_postal_code_must_be_a_zip_code(user):
    response = user.post("/enrollments", with_address(postalCode="2840"))
    assert bad_fields(response) == ["applicant.contact.addresses.0.postalCode"]


def test_foreign_address_takes_its_own_region_and_postal_code(user):
    response = user.post("/enrollments", with_address(
        countryCode="GB", regionCode="LND", postalCode="SW1A 1AA"))
    assert response.status_code == 201, response.json


def test_email_address_must_be_valid(user):
    contact = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"]["contact"])
    contact["emailAddresses"][1]["value"] = "support-at-apiture.com"
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(**contact)))
    assert bad_fields(response) == ["applicant.contact.emailAddresses.1.value"]


@pytest.mark.parametrize("number", ["call me", "555", "+1 (555) 555-5555 ext 12345678"])
def test_phone_number_must_be_valid(user, number):
    contact = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"]["contact"])
    contact["phones"][0]["number"] = number
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(**contact)))
    assert bad_fields(response) == ["applicant.contact.phones.0.number"]


@pytest.mark.parametrize(("field", "value"), [
    ("occupation", "astronaut"),
    ("residencyStatus", "tourist"),
])
def test_enumerations_are_enforced(user, field, value):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(**{field: value})))
    assert bad_fields(response) == [f"applicant.contact.{field}"]


def test_consent_type_must_be_known(user):
    applicant = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"])
    applicant["consents"][0]["type"] = "everything"
    response = user.post("/enrollments", enrollment_body(applicant=applicant))
    assert bad_fields(response) == ["applicant.consents.0.type"]


def test_required_document_type_must_be_known(user):
    body = enrollment_body()
    body["requiredDocuments"][0]["type"] = "selfie"
    assert bad_fields(user.post("/enrollments", body)) == ["requiredDocuments.0.type"]


def test_tax_id_must_look_like_an_ssn_or_ein(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(
        identification=[{"type": "taxId", "value": "1111"}])))
    assert bad_fields(response) == ["applicant.contact.identification.0.value"]


def test_preferred_email_must_be_one_of_the_listed_ones(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(
        preferredEmailAddressId="nope")))
    assert bad_fields(response) == ["applicant.contact.preferredEmailAddressId"]


def test_years_at_address_must_be_a_number_of_years(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(
        yearsAtAddress="three")))
    assert bad_fields(response) == ["applicant.contact.yearsAtAddress"]


def test_unknown_field_is_named(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(shoeSize=44)))
    assert bad_fields(response) == ["applicant.contact.shoeSize"]


def test_every_bad_field_is_listed(user):
    contact = copy.deepcopy(REFERENCE_ENROLLMENT["applicant"]["contact"])
    contact["birthdate"] = "1974-10-32"
    contact["addresses"][1]["regionCode"] = "QQ"
    contact["phones"][1]["number"] = "x"
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(**contact)))
    assert sorted(bad_fields(response)) == [
        "applicant.contact.addresses.1.regionCode",
        "applicant.contact.birthdate",
        "applicant.contact.phones.1.number",
    ]


def test_a_masked_value_cannot_be_created(user):
    response = user.post("/enrollments", enrollment_body(applicant=contact_with(
        birthdate="*****")))
    assert "applicant.contact.birthdate" in bad_fields(response)


def test_body_that_is_not_json_is_415(user):
    response = user.client.post("/accountApplications/enrollments", data="applicant=John",
                                headers={**user.headers, "Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json["_error"]["statusCode"] == 415


@pytest.mark.parametrize("value", [0, 1, "yes", "true", None])
def test_a_boolean_is_json_true_or_false_only(user, value):
    response = user.post("/enrollments", enrollment_body(
        applicant=contact_with(mailingDifferentAddress=value)))
    assert bad_fields(response) == ["applicant.contact.mailingDifferentAddress"]


def test_a_boolean_true_or_false_is_kept(user):
    response = user.post("/enrollments", enrollment_body(
        applicant=contact_with(mailingDifferentAddress=True)))
    assert response.status_code == 201, response.json
    assert response.json["applicant"]["contact"]["mailingDifferentAddress"] is True
