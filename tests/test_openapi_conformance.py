"""Each operation's answers, success and error, conform to openapi/openapi.yaml.

The assertions here are on statuses; the conformance of every response
(status documented, headers, body schema) is checked by the validating test
client that every test uses (tests/openapi_validation.py).
"""

from __future__ import annotations

from tests.conftest import BASE


def test_collection_pages_with_every_query_parameter_conform(user, application):
    response = user.get("/applications?start=0&limit=5&sortBy=-createdAt,accountName"
                        "&filter=eq(state,running)&q=checking&state=running|blocked"
                        "&name=My%20checking%20account")
    assert response.status_code == 200
    assert response.json["count"] == 1


def test_running_and_blocked_collections_conform(user, application):
    assert user.get("/runningApplications").status_code == 200
    assert user.get("/blockedApplications").status_code == 200


def test_malformed_paging_is_a_documented_400(user):
    assert user.get("/applications?start=x").status_code == 400


def test_paging_out_of_range_is_a_documented_422(user):
    assert user.get("/applications?start=-1").status_code == 422


def test_filter_on_unknown_field_is_a_documented_422(user):
    assert user.get("/applications?filter=eq(color,red)").status_code == 422


def test_not_modified_conforms(user, application):
    href = application.json["_links"]["self"]["href"]
    response = user.get(href, headers={"If-None-Match": application.headers["ETag"]})
    assert response.status_code == 304


def test_update_without_if_match_is_a_documented_428(user, application):
    href = application.json["_links"]["self"]["href"]
    assert user.put(href, {"accountName": "x"}).status_code == 428


def test_update_with_stale_if_match_is_a_documented_412(user, application):
    href = application.json["_links"]["self"]["href"]
    response = user.patch(href, {"accountName": "x"}, headers={"If-Match": '"999.0"'})
    assert response.status_code == 412


def test_put_and_patch_answers_conform(user, application, create_body):
    href = application.json["_links"]["self"]["href"]
    body = {k: v for k, v in application.json.items() if k != "fundingAccount"}
    put = user.put(href, body, headers={"If-Match": application.headers["ETag"]})
    assert put.status_code == 200
    patch = user.patch(href, {"accountName": "Renamed", "fundingAmount": None},
                       headers={"If-Match": put.headers["ETag"]})
    assert patch.status_code == 200


def test_invalid_body_is_a_documented_400(user, create_body):
    assert user.post("/applications", create_body(accountName=5)).status_code == 400


def test_non_json_body_is_a_documented_415(user):
    response = user.call("POST", "/applications", data="x", content_type="text/plain")
    assert response.status_code == 415


def test_second_running_application_is_a_documented_409(user, application, create_body):
    assert user.post("/applications", create_body()).status_code == 409


def test_delete_of_a_running_application_is_a_documented_409(user, application):
    href = application.json["_links"]["self"]["href"]
    response = user.delete(href, headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 409


def test_action_answers_conform(user, admin, application):
    cancel = application.json["_links"]["apiture:cancel"]["href"]
    assert user.post(cancel).status_code == 200
    approve = cancel.replace("canceledApplications", "approvedApplications")
    assert user.post(approve).status_code == 403
    assert admin.post(approve).status_code == 409
    assert user.post("/canceledApplications").status_code == 400


def test_audit_trail_conforms(admin, application):
    href = application.json["_links"]["self"]["href"]
    assert admin.get(f"{href}/auditRecords").status_code == 200


def test_missing_credentials_are_a_documented_401(client):
    assert client.get(f"{BASE}/applications").status_code == 401


def test_missing_scope_is_a_documented_403(client):
    from tests.conftest import headers_for

    response = client.get(f"{BASE}/applications", headers=headers_for("u", "profiles/read"))
    assert response.status_code == 403


def test_unknown_application_is_a_documented_404(user):
    assert user.get("/applications/nope").status_code == 404


def test_unknown_path_and_method_answer_error_responses(user):
    assert user.get("/nothing/here").status_code == 404
    assert user.delete("/applications").status_code == 405
