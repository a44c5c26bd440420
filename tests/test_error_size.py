"""A small bad body gets a small, cheap error: bounded errorResponses and arrays."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from conftest import BASE
from flask.testing import FlaskClient

from accountapps.domain.errors import ApiError, field_error, validation_error
from accountapps.web.errors import MAX_NESTED_ERRORS, error_body

#: The most an errorResponse may weigh, whatever it answers.
MAX_ERROR_BYTES = 64 * 1024


def post(app, headers, body: bytes):
    """POST ``body`` through a plain test client (the suite's validates every request
    against the OpenAPI document, which takes seconds over 130,000 items)."""
    return FlaskClient(app, app.response_class).post(
        f"{BASE}/applications", data=body, headers={**headers, "Content-Type": "application/json"})


def test_an_array_of_130000_items_is_a_small_400_answered_fast(app, user_headers):
    body = b'{"documents": [' + b",".join([b"0"] * 130_000) + b"]}"
    assert len(body) < 256 * 1024  # under the body limit: it is read and parsed
    started = time.perf_counter()
    response = post(app, user_headers, body)
    took = time.perf_counter() - started
    assert response.status_code == 400
    assert len(response.get_data()) < MAX_ERROR_BYTES
    assert took < 1.0  # before: 3-5 s of CPU and a 16 MiB answer
    [error] = response.json["_error"]["_embedded"]["errors"]
    assert error["attributes"]["name"] == "documents"
    assert "maximum length 50" in error["message"]


def test_an_array_is_refused_by_its_length_before_its_items_are_validated(user, create_body):
    response = user.post("/applications", create_body(documents=[{"bad": 1}] * 51))
    assert response.status_code == 400
    errors = response.json["_error"]["_embedded"]["errors"]
    assert [error["attributes"]["name"] for error in errors] == ["documents"]


@pytest.mark.parametrize(("field", "maximum"), [
    ("applicants", 10), ("documents", 50), ("consents", 20), ("products", 10)])
def test_an_application_array_over_its_maximum_is_400(user, create_body, field, maximum):
    item = create_body()[field][0] if field in ("applicants", "products") else {}
    response = user.post("/applications", create_body(**{field: [item] * (maximum + 1)}))
    assert response.status_code == 400
    assert response.json["_error"]["_embedded"]["errors"][0]["attributes"]["name"] == field


def test_ten_applicants_are_accepted(user, create_body):
    applicant = create_body()["applicants"][0]
    assert user.post("/applications", create_body(applicants=[applicant] * 10)).status_code == 201


def test_an_enrollment_with_more_than_ten_applicants_is_400(user):
    applicant = {"contact": {"firstName": "A"}}
    response = user.post("/enrollments", {"applicants": [applicant] * 11})
    assert response.status_code == 400
    assert response.json["_error"]["_embedded"]["errors"][0]["attributes"]["name"] == "applicants"


def test_thousands_of_bad_fields_give_the_first_errors_and_their_count(app, user_headers):
    body = json.dumps({f"unknown{n}": 0 for n in range(12_000)}).encode()
    response = post(app, user_headers, body)
    assert response.status_code == 400
    assert len(response.get_data()) < MAX_ERROR_BYTES
    error = response.json["_error"]
    assert len(error["_embedded"]["errors"]) == MAX_NESTED_ERRORS
    assert error["attributes"]["errorCount"] == 12_000
    assert error["attributes"]["errorsListed"] == MAX_NESTED_ERRORS
    assert "11950 are omitted" in error["message"]


def test_a_long_unknown_key_is_cut_in_the_error(app, user_headers):
    response = post(app, user_headers, json.dumps({"k" * 200_000: 0}).encode())
    assert response.status_code == 400
    assert len(response.get_data()) < MAX_ERROR_BYTES


def test_an_error_with_few_nested_errors_lists_them_all_without_a_count(app):
    with app.test_request_context():
        body = error_body(validation_error([field_error("a", "bad"), field_error("b", "bad")]))
    assert len(body["_error"]["_embedded"]["errors"]) == 2
    assert "attributes" not in body["_error"]


def test_nested_errors_are_listed_within_the_byte_budget(app):
    huge = [field_error(f"f{n}", "x" * 5000, value="v" * 5000) for n in range(MAX_NESTED_ERRORS)]
    with app.test_request_context():
        body = error_body(ApiError(400, "invalidFields", "Bad.", errors=huge))
    assert len(json.dumps(body)) < MAX_ERROR_BYTES
    assert body["_error"]["attributes"]["errorCount"] == MAX_NESTED_ERRORS


def test_array_maximums_are_documented():
    with open("openapi/openapi.yaml") as handle:
        schemas = yaml.safe_load(handle)["components"]["schemas"]
    update = schemas["applicationUpdate"]["properties"]
    assert {name: update[name]["maxItems"] for name in ("applicants", "documents",
                                                        "consents", "products")} == {
        "applicants": 10, "documents": 50, "consents": 20, "products": 10}
    enrollment = schemas["enrollmentWrite"]["properties"]
    assert enrollment["applicants"]["maxItems"] == 10
    assert schemas["errorsEmbedded"]["properties"]["errors"]["maxItems"] == MAX_NESTED_ERRORS
