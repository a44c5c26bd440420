"""The OpenAPI document, the JSON Schema profiles and the docs page agree with the service."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from accountapps import apidoc
from accountapps.apidoc import spec
from accountapps.apidoc.cli import differences
from accountapps.representations.examples import CREATE_ENROLLMENT
from tests.conftest import API_KEY, BASE
from tests.openapi_validation import (
    OPENAPI_FILE,
    ConformanceError,
    check_response,
    spec_document,
)

ROOT = Path(__file__).resolve().parent.parent

REFERENCE_OPERATION_IDS = {
    "getApplications", "createApplication", "getApplication", "updateApplication",
    "patchApplication", "deleteApplication", "getRunningApplications",
    "getBlockedApplications", "expireApplication", "rejectApplication",
    "approveApplication", "cancelApplication", "startApplication",
}


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                yield path, method, item.get("parameters", []), operation


# --- the committed files ---------------------------------------------------------

def test_committed_yaml_and_schemas_are_what_the_code_generates(app):
    assert differences(app, ROOT) == [], "run `make openapi` and commit the result"


def test_committed_yaml_is_a_valid_openapi_document():
    validate(yaml.safe_load(OPENAPI_FILE.read_text()))


def test_generation_names_no_schema_twice(recwarn, app_settings):
    from accountapps import create_app

    apidoc.document(create_app(app_settings))
    assert not [w for w in recwarn if "Multiple schemas" in str(w.message)]


def test_threads_asking_a_new_app_for_its_document_at_once_get_all_of_it(app):
    # The views are documented on the first request for the document, which two
    # threads of a gthread worker may make at the same moment.
    start = threading.Barrier(4)
    documents: list[dict] = []

    def ask() -> None:
        start.wait()
        documents.append(apidoc.document(app))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committed = yaml.safe_load(OPENAPI_FILE.read_text())
    assert sorted(documents[0]["paths"]) == sorted(committed["paths"])
    assert documents == [apidoc.document(app)] * 4


# --- what the document says -------------------------------------------------------

def test_every_reference_operation_has_its_operation_id():
    ids = {op["operationId"] for _p, _m, _params, op in operations(spec_document())}
    assert ids >= REFERENCE_OPERATION_IDS


def test_operation_ids_are_unique():
    ids = [op["operationId"] for _p, _m, _params, op in operations(spec_document())]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", ["start", "limit", "sortBy", "filter", "q", "state", "name",
                                  "applicant"])
def test_collections_document_query_parameter(name):
    operation = spec_document()["paths"]["/applications"]["get"]
    assert name in {p["name"] for p in operation["parameters"]}


def test_updates_require_if_match_and_get_documents_if_none_match():
    item = spec_document()["paths"]["/applications/{applicationId}"]
    for method in ("put", "patch", "delete"):
        (if_match,) = [p for p in item[method]["parameters"] if p["name"] == "If-Match"]
        assert if_match["required"] is True
        assert "428" in item[method]["responses"]
    assert "If-None-Match" in {p["name"] for p in item["get"]["parameters"]}
    assert "ETag" in item["get"]["responses"]["304"]["headers"]


def test_actions_document_their_target_and_optional_if_match():
    operation = spec_document()["paths"]["/approvedApplications"]["post"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["application"]["required"] is True
    assert parameters["If-Match"].get("required", False) is False


def test_create_documents_location_and_etag_and_links_to_every_operation_on_it():
    created = spec_document()["paths"]["/applications"]["post"]["responses"]["201"]
    assert {"Location", "ETag"} <= set(created["headers"])
    targets = {link["operationId"] for link in created["links"].values()}
    assert {"getApplication", "updateApplication", "patchApplication", "deleteApplication",
            "expireApplication", "rejectApplication", "approveApplication",
            "cancelApplication", "startApplication"} <= targets


def test_every_error_status_has_an_error_response_body_in_hal_json():
    for path, method, _params, operation in operations(spec_document()):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response["content"]
                assert list(content) == ["application/hal+json"], (path, method, status)
                assert content["application/hal+json"]["schema"] == {
                    "$ref": "#/components/schemas/errorResponse"}


def test_each_request_body_is_documented_under_one_media_type():
    # One body model per operation for client generators (the service also
    # accepts application/hal+json, tested in test_request_json.py).
    for _path, _method, _params, operation in operations(spec_document()):
        if "requestBody" in operation:
            assert set(operation["requestBody"]["content"]) == {"application/json"}
            assert "415" in operation["responses"]


def test_every_operation_has_a_summary_and_a_description():
    for path, method, _params, operation in operations(spec_document()):
        assert operation.get("summary") and operation.get("description"), (path, method)


def test_descriptions_are_markdown_not_restructured_text():
    assert "``" not in json.dumps(spec_document())


def test_every_timestamp_is_a_date_time():
    """Every member named like a time (``createdAt``, ``revisedAt``, ``timestamp``…),
    anywhere in the document (components, inline schemas, webhooks), is a date-time."""
    untyped = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for prop, spec in (node.get("properties") or {}).items():
                if (isinstance(spec, dict) and "type" in spec  # untyped: accepted and ignored
                        and (prop.endswith("At") or prop in ("timestamp", "occurredAt"))
                        and spec.get("format") != "date-time"):
                    untyped.append(f"{where}/{prop}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(spec_document(), "")
    assert untyped == []


def test_etag_and_location_are_required_headers_where_always_sent():
    for path, method, _params, operation in operations(spec_document()):
        for status, response in operation["responses"].items():
            for name, header in (response.get("headers") or {}).items():
                if name in ("ETag", "Location"):
                    assert header["required"] is True, (path, method, status, name)


def test_the_api_doc_in_yaml_is_not_declared_an_object():
    doc = spec_document()
    content = doc["paths"]["/apiDoc"]["get"]["responses"]["200"]["content"]
    assert "schema" not in content["application/yaml"]


def test_the_credentials_are_an_api_key_and_a_bearer_token():
    schemes = spec_document()["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header",
                                 "name": "API-Key"}
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http",
                                     "scheme": "bearer", "bearerFormat": "JWT"}
    assert "`banking/read`" in schemes["bearerAuth"]["description"]


def test_no_oauth2_flow_is_offered_whose_endpoints_are_not_configured():
    assert "accessToken" not in spec_document()["components"]["securitySchemes"]


def test_a_configured_oauth2_flow_is_offered_beside_the_bearer_token():
    from accountapps.apidoc.schemes import security_schemes

    schemes = security_schemes({
        "ACCOUNTAPPS_OAUTH2_AUTHORIZATION_URL": "https://idp.example.com/authorize",
        "ACCOUNTAPPS_OAUTH2_TOKEN_URL": "https://idp.example.com/token"})
    flow = schemes["accessToken"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://idp.example.com/authorize"
    assert {"banking/read", "banking/full", "profiles/readPii", "admin/write"} <= set(
        flow["scopes"])


def test_root_and_api_doc_need_only_the_api_key_and_the_rest_a_scoped_token():
    for path, method, _params, operation in operations(spec_document()):
        if path in ("/", "/apiDoc"):
            assert operation["security"] == [{"apiKey": []}]
        elif path.startswith(("/health/", "/errors")):
            assert operation["security"] == []
        else:
            (requirement,) = operation["security"]
            assert set(requirement) == {"apiKey", "bearerAuth"}
            assert len(requirement["bearerAuth"]) == 1, (path, method)


# --- the served document -----------------------------------------------------------

def test_api_doc_serves_the_committed_document_as_json(client):
    response = client.get(f"{BASE}/apiDoc", headers={"API-Key": API_KEY})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == spec_document()


def test_api_doc_serves_yaml_when_accept_asks_for_it(client):
    response = client.get(f"{BASE}/apiDoc",
                          headers={"API-Key": API_KEY, "Accept": "application/yaml"})
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert response.get_data(as_text=True) == OPENAPI_FILE.read_text()


@pytest.mark.parametrize("accept", ["application/json", "application/yaml"])
def test_api_doc_says_its_body_varies_with_accept(client, accept):
    response = client.get(f"{BASE}/apiDoc", headers={"API-Key": API_KEY, "Accept": accept})
    assert "accept" in {value.strip().lower() for value in response.headers["Vary"].split(",")}


def test_api_doc_without_api_key_is_401(client):
    assert client.get(f"{BASE}/apiDoc").status_code == 401


def test_the_document_is_built_once_per_app_not_per_request(client, monkeypatch):
    # Building it costs more than any other request, its YAML most of all; and the
    # docs page's copy needs no credentials at all.
    build, built = spec.document, []

    def counting(app):
        built.append(app)
        return build(app)

    monkeypatch.setattr(spec, "document", counting)
    for accept in ("application/json", "application/yaml") * 3:
        assert client.get(f"{BASE}/apiDoc",
                          headers={"API-Key": API_KEY, "Accept": accept}).status_code == 200
    assert client.get(f"{BASE}/docs/openapi.json").status_code == 200
    assert len(built) == 1  # for JSON, YAML and the docs page alike


# --- the validating test client ------------------------------------------------------

def test_the_test_client_rejects_a_response_the_document_does_not_allow(app, user):
    response = user.get("/")
    response.set_data(json.dumps({"unexpected": True}))
    with pytest.raises(ConformanceError):
        check_response(response)


def test_the_test_client_rejects_an_undocumented_status(user, application):
    response = user.get(application.json["_links"]["self"]["href"])
    response.status_code = 201
    with pytest.raises(ConformanceError):
        check_response(response)


# --- profiles -----------------------------------------------------------------------

def _profiles_in(node, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        if isinstance(node.get("_profile"), str):
            found.add(node["_profile"])
        for value in node.values():
            _profiles_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _profiles_in(value, found)
    return found


def test_every_profile_a_response_names_is_served_and_describes_the_response(
        client, user, admin, application):
    href = application.json["_links"]["self"]["href"]
    bodies = [
        application.json,
        user.get(href).json,
        user.get("/applications").json,
        user.get("/").json,
        user.get("/applications/nope").json,
        admin.get(f"{href}/auditRecords").json,
    ]
    seen: dict[str, list[dict]] = {}
    for body in bodies:
        for profile in _profiles_in(body, set()):
            seen.setdefault(profile, [])
        seen.setdefault(body["_profile"], []).append(body)
    names = {re.search(r"/schemas/([^/]+)/", p).group(1) for p in seen}
    assert {"application", "applicationSummary", "applications", "root", "errorResponse",
            "auditRecords"} <= names
    for profile, examples in seen.items():
        response = client.get(profile)  # no credentials: profiles are public
        assert response.status_code == 200, profile
        assert response.mimetype == "application/schema+json"
        validator = Draft202012Validator(response.json)
        Draft202012Validator.check_schema(response.json)
        for example in examples:
            assert not list(validator.iter_errors(example)), profile


def test_served_profiles_are_the_committed_files(client):
    for path in (ROOT / "schemas").rglob("profile.json"):
        relative = path.relative_to(ROOT / "schemas").as_posix()
        response = client.get(f"{BASE}/schemas/{relative}")
        assert response.status_code == 200
        assert response.json == json.loads(path.read_text())


def test_unknown_profile_is_404_error_response(client):
    response = client.get(f"{BASE}/schemas/nothing/v1.0.0/profile.json")
    assert response.status_code == 404
    assert response.json["_error"]["statusCode"] == 404


# --- interactive documentation -------------------------------------------------------

def test_root_links_to_the_docs_page(user):
    assert user.get("/").json["_links"]["apiture:docs"]["href"].endswith(f"{BASE}/docs")


def test_docs_page_loads_only_local_assets(client):
    response = client.get(f"{BASE}/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page and "//" not in page
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def test_docs_page_policy_allows_its_own_scripts_and_styles_only(client):
    policy = client.get(f"{BASE}/docs").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "'unsafe-eval'" not in policy and "*" not in policy


def test_docs_page_spec_is_the_document(client):
    assert client.get(f"{BASE}/docs/openapi.json").json == spec_document()


def test_docs_assets_serve_only_swagger_ui_files(client):
    assert client.get(f"{BASE}/docs/assets/LICENSE").status_code == 404


def _schema(doc: dict, name: str) -> dict:
    return doc["components"]["schemas"][name]


def test_validators_are_documented_as_pattern_enum_and_length():
    doc = yaml.safe_load(OPENAPI_FILE.read_text())
    assert _schema(doc, "fundingAccount")["properties"]["routingNumber"]["pattern"]
    assert _schema(doc, "accountNumbers")["properties"]["full"]["maxLength"] == 32
    assert _schema(doc, "money")["properties"]["value"]["pattern"]
    assert "USD" in _schema(doc, "money")["properties"]["currency"]["enum"]
    assert "US" in _schema(doc, "address")["properties"]["countryCode"]["enum"]
    assert _schema(doc, "identification")["properties"]["expiration"]["pattern"]
    assert _schema(doc, "identityVerification")["properties"]["scoredAt"]["pattern"]


def test_create_enrollment_example_is_the_references_without_read_only_fields():
    doc = yaml.safe_load(OPENAPI_FILE.read_text())
    body = doc["paths"]["/enrollments"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"]["applicant"]["contact"] == CREATE_ENROLLMENT["applicant"]["contact"]
    assert "_profile" not in body["example"]
    assert "givenAt" not in body["example"]["applicant"]["consents"][0]


def test_create_enrollment_example_fits_its_schema():
    doc = yaml.safe_load(OPENAPI_FILE.read_text())
    body = doc["paths"]["/enrollments"]["post"]["requestBody"]["content"]["application/json"]
    validator = Draft202012Validator({"$ref": "#/components/schemas/enrollmentWrite",
                                      "components": doc["components"]})
    assert list(validator.iter_errors(body["example"])) == []


def test_actions_document_an_optional_body_with_a_reason():
    doc = yaml.safe_load(OPENAPI_FILE.read_text())
    for path in ("/approvedApplications", "/rejectedEnrollments"):
        body = doc["paths"][path]["post"]["requestBody"]
        assert body["required"] is False
        assert body["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/actionBody"}
    assert "reason" in _schema(doc, "actionBody")["properties"]
