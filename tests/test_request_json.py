"""Request bodies are JSON (RFC 8259), read once: non-finite numbers are refused.

Python's JSON reader also reads ``NaN``, ``Infinity`` and numbers too large
for a float (as infinity). None of them is JSON; stored, such a value would
come back as ``null``. A body holding one is refused like any malformed body.
"""

from __future__ import annotations

import json
import math

import pytest
from enrollment_support import create, enrollment_body
from test_errors import assert_error_response
from webargs import core as webargs_core

from accountapps.web.bodies import MAX_DEPTH, RequestJSON

NOT_JSON = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def send(api, method: str, path: str, text: str, **headers: str):
    return api.call(method, path, data=text,
                    headers={"Content-Type": "application/json", **headers})


def with_embedded_number(body: dict, literal: str) -> str:
    """``body`` as JSON text, its applicant's free-form ``_embedded`` holding ``literal``."""
    body["applicant"]["_embedded"] = {"score": 12345.5}
    text = json.dumps(body)
    assert text.count("12345.5") == 1
    return text.replace("12345.5", literal)


@pytest.mark.parametrize("literal", NOT_JSON)
def test_a_create_with_a_non_finite_number_is_400_and_creates_nothing(user, literal):
    response = send(user, "POST", "/enrollments", with_embedded_number(enrollment_body(), literal))
    error = assert_error_response(response, 400)
    assert error["type"] == "invalidJson"
    assert user.get("/enrollments").json["count"] == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("literal", NOT_JSON)
def test_an_update_with_a_non_finite_number_is_400_and_changes_nothing(user, method, literal):
    created = create(user)
    href = created.headers["Location"]
    body = enrollment_body() if method == "PUT" else {"applicant": {}}
    if method == "PATCH":
        body["applicant"]["contact"] = {"occupation": "management"}
    text = with_embedded_number(body, literal)
    response = send(user, method, href, text, **{"If-Match": created.headers["ETag"]})
    assert_error_response(response, 400)
    after = user.get(href)
    assert after.headers["ETag"] == created.headers["ETag"]
    assert after.json["applicant"]["contact"]["occupation"] != "management"


def test_an_application_create_with_nan_is_400(user, create_body):
    text = json.dumps(create_body(accountName="x")).replace('"x"', "NaN")
    error = assert_error_response(send(user, "POST", "/applications", text), 400)
    assert error["type"] == "invalidJson"
    assert "NaN" in error["message"]
    assert user.get("/applications").json["count"] == 0


def test_a_member_named_twice_is_400_and_nothing_is_stored(user, create_body):
    text = json.dumps(create_body(accountName="First")).replace(
        '"accountName": "First"', '"accountName": "First", "accountName": "Second"')
    assert text.count('"accountName"') == 2
    error = assert_error_response(send(user, "POST", "/applications", text), 400)
    assert error["type"] == "invalidJson"
    assert "'accountName' appears twice" in error["message"]
    assert user.get("/applications").json["count"] == 0


def test_a_patch_naming_a_member_twice_changes_nothing(user, application):
    href = application.headers["Location"]
    response = send(user, "PATCH", href, '{"accountName": "A", "accountName": "B"}',
                    **{"If-Match": application.headers["ETag"]})
    assert assert_error_response(response, 400)["type"] == "invalidJson"
    assert user.get(href).headers["ETag"] == application.headers["ETag"]


def test_the_same_name_in_different_objects_is_fine(user, create_body):
    body = create_body()
    assert json.dumps(body).count('"_links"') >= 2  # the body's and an applicant's
    assert send(user, "POST", "/applications", json.dumps(body)).status_code == 201


@pytest.mark.parametrize("literal", ["1e308", "-0.0", "12345678901234567890123456789"])
def test_large_finite_numbers_are_stored_exactly(user, literal):
    response = send(user, "POST", "/enrollments", with_embedded_number(enrollment_body(), literal))
    assert response.status_code == 201, response.json
    score = user.get(response.headers["Location"]).json["applicant"]["_embedded"]["score"]
    expected = json.loads(literal)
    assert (score, type(score), math.copysign(1, score)) == (
        expected, type(expected), math.copysign(1, expected))


MALFORMED = ['{"accountName": ', "\x00", "c@", "\xff\xfe{", "[1,]", '{"a": 1} trailing']


@pytest.mark.parametrize("text", MALFORMED)
@pytest.mark.parametrize("operation", ["create-application", "put-application",
                                       "create-enrollment", "put-enrollment",
                                       "patch-enrollment"])
def test_a_body_that_is_not_json_is_400_invalid_json_for_every_operation(user, application,
                                                                        operation, text):
    enrollment = create(user)
    method, path, tag = {
        "create-application": ("POST", "/applications", None),
        "put-application": ("PUT", application.headers["Location"], application.headers["ETag"]),
        "create-enrollment": ("POST", "/enrollments", None),
        "put-enrollment": ("PUT", enrollment.headers["Location"], enrollment.headers["ETag"]),
        "patch-enrollment": ("PATCH", enrollment.headers["Location"],
                             enrollment.headers["ETag"]),
    }[operation]
    headers = {"If-Match": tag} if tag else {}
    response = user.call(method, path, data=text.encode("latin-1"),
                         headers={"Content-Type": "application/json", **headers})
    error = assert_error_response(response, 400)
    assert error["type"] == "invalidJson"
    assert error["message"].startswith("The request body is not valid JSON: ")


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_empty_update_body_is_400_invalid_json(user, application, method):
    response = user.call(method, application.headers["Location"], data=b"",
                         headers={"Content-Type": "application/json",
                                  "If-Match": application.headers["ETag"]})
    error = assert_error_response(response, 400)
    assert (error["type"], error["message"]) == ("invalidJson", "The request body is empty.")


def test_an_empty_post_body_is_still_an_action_without_a_body(user, application):
    href = f"/canceledApplications?application={application.json['_id']}"
    assert user.call("POST", href, data=b"",
                     headers={"Content-Type": "application/json"}).status_code == 200


def test_a_body_is_parsed_once(user, create_body, monkeypatch):
    calls: list[int] = []
    original = RequestJSON.loads

    def counting(self, s, **kwargs):
        calls.append(1)
        return original(self, s, **kwargs)

    monkeypatch.setattr(RequestJSON, "loads", counting)
    monkeypatch.setattr(webargs_core, "parse_json", lambda *_a, **_k: pytest.fail("parsed again"))
    response = user.post("/applications", create_body())
    assert response.status_code == 201, response.json
    assert len(calls) == 1


# --- U+0000 (PostgreSQL's text cannot hold it) and lone surrogates (no UTF-8 can) ---

def test_a_body_string_with_nul_is_400_and_creates_nothing(user, create_body):
    error = assert_error_response(user.post("/applications", create_body(accountName="a\0b")),
                                  400)
    assert error["type"] == "invalidCharacter"
    assert user.get("/applications").json["count"] == 0


def test_a_body_key_with_nul_is_400(user):
    body = enrollment_body()
    body["applicant"]["_embedded"] = {"a\0b": 1}
    assert assert_error_response(user.post("/enrollments", body), 400)["type"] == (
        "invalidCharacter")


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "\\ude00\\ud83d"])
def test_a_body_string_with_a_lone_surrogate_is_400_and_creates_nothing(user, create_body,
                                                                         escape):
    text = json.dumps(create_body(accountName="ab")).replace('"ab"', f'"a{escape}b"')
    error = assert_error_response(send(user, "POST", "/applications", text), 400)
    assert error["type"] == "invalidCharacter"
    assert user.get("/applications").json["count"] == 0


def test_a_surrogate_pair_is_one_character_and_stored_exactly(user, create_body):
    text = json.dumps(create_body(accountName="ab")).replace('"ab"', '"a\\ud83d\\ude00b"')
    response = send(user, "POST", "/applications", text)
    assert response.status_code == 201, response.json
    assert user.get(response.headers["Location"]).json["accountName"] == "a\U0001F600b"


def test_an_escaped_backslash_before_u0000_is_ordinary_text(user, create_body):
    response = user.post("/applications", create_body(accountName="C:\\u0000"))
    assert response.status_code == 201, response.json
    assert response.json["accountName"] == "C:\\u0000"


def test_an_update_with_nul_is_400_and_changes_nothing(user, application):
    href = f"/applications/{application.json['_id']}"
    response = user.patch(href, {"accountName": "a\0b"},
                          headers={"If-Match": application.headers["ETag"]})
    assert assert_error_response(response, 400)["type"] == "invalidCharacter"
    assert user.get(href).headers["ETag"] == application.headers["ETag"]


@pytest.mark.parametrize("path", ["/applications/a%00b", "/enrollments/x%00"])
def test_a_path_with_nul_names_nothing_404(user, path):
    assert assert_error_response(user.get(path), 404)["type"] == "notFound"


@pytest.mark.parametrize("query", [
    "name=a%00b", "filter=eq(accountName,a%00b)", "sortBy=a%00b", "start=%00"])
def test_a_query_with_nul_is_400(user, query):
    response = user.get(f"/applications?{query}")
    assert assert_error_response(response, 400)["type"] == "invalidCharacter"


def test_an_action_target_with_nul_is_400(user):
    response = user.post("/canceledApplications?application=a%00b")
    assert assert_error_response(response, 400)["type"] == "invalidCharacter"


# --- depth and raw surrogate bytes ----------------------------------------------------

def nested(levels: int, leaf: object) -> object:
    for _ in range(levels):
        leaf = {"a": leaf}
    return leaf


def test_a_body_nested_deeper_than_the_limit_is_400_invalid_json(user):
    body = enrollment_body()
    body["applicant"]["_embedded"] = nested(MAX_DEPTH, 1)
    error = assert_error_response(user.post("/enrollments", body), 400)
    assert error["type"] == "invalidJson" and "nested too deeply" in error["message"]
    assert user.get("/enrollments").json["count"] == 0


def test_a_body_at_the_depth_limit_is_accepted(user):
    body = enrollment_body()
    body["applicant"]["_embedded"] = nested(MAX_DEPTH - 3, 1)  # body > applicant > _embedded
    assert user.post("/enrollments", body).status_code == 201


def test_a_deep_body_with_a_surrogate_pair_is_400_nested_too_deeply(user):
    text = "[" * 400 + '"\\ud83d\\ude00"' + "]" * 400
    response = user.call("POST", "/applications", data=text,
                         headers={"Content-Type": "application/json"})
    error = assert_error_response(response, 400)
    assert error["type"] == "invalidJson" and "nested too deeply" in error["message"]


def test_a_deep_body_without_credentials_is_401_unread(client):
    text = "[" * 400 + "]" * 400
    response = client.post("/accountApplications/applications", data=text,
                           content_type="application/json")
    assert assert_error_response(response, 401)["type"] == "unauthorized"


@pytest.mark.parametrize("raw", [b"\xed\xa0\x80", b"\xed\xb0\x80"], ids=["high", "low"])
def test_raw_surrogate_bytes_in_a_body_are_400_and_change_nothing(user, application, raw):
    href = application.headers["Location"]
    response = user.call("PATCH", href, data=b'{"accountName": "a' + raw + b'b"}',
                         headers={"Content-Type": "application/json",
                                  "If-Match": application.headers["ETag"]})
    assert assert_error_response(response, 400)["type"] == "invalidCharacter"
    assert user.get(href).headers["ETag"] == application.headers["ETag"]


def test_korean_text_is_stored(user, create_body):
    response = user.post("/applications", create_body(accountName="\ud55c\uad6d \uc800\ucd95"))
    assert response.status_code == 201, response.json
    assert response.json["accountName"] == "\ud55c\uad6d \uc800\ucd95"
