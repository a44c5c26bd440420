"""Every error is the reference's errorResponse: never HTML, never a stack trace."""

import copy
import json

import pytest
from conftest import API_KEY, BASE, FUNDING, headers_for
from peewee import DataError
from werkzeug.test import EnvironBuilder, run_wsgi_app

from accountapps.auth.security import PUBLIC, requires


def assert_error_response(response, status: int) -> dict:
    """The body is an errorResponse for ``status``; return its ``_error``."""
    assert response.status_code == status
    assert response.mimetype == "application/hal+json"
    body = response.json
    assert body["_profile"].endswith("/errorResponse/v1.0.0/profile.json")
    error = body["_error"]
    assert error["statusCode"] == status
    for field in ("_id", "message", "type", "occurredAt"):
        assert error[field], field
    return error


def embedded_names(error: dict) -> list[str]:
    return [nested["attributes"]["name"] for nested in error["_embedded"]["errors"]]


# --- routing -----------------------------------------------------------------

def test_unknown_path_is_404_error_response(user):
    assert_error_response(user.get("/noSuchCollection"), 404)


def test_unknown_path_outside_the_api_is_404_error_response(client):
    assert_error_response(client.get("/index.html"), 404)


def test_the_root_without_its_slash_is_404_naming_the_root(client, user_headers):
    response = client.get(BASE, headers=user_headers)
    error = assert_error_response(response, 404)
    assert error["attributes"]["location"] == f"http://localhost{BASE}/"
    assert "Location" not in response.headers


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "//applications"), ("POST", "//applications"), ("GET", "/applications//x"),
])
def test_a_path_with_a_double_slash_is_404_not_a_redirect(user, method, path):
    assert_error_response(user.call(method, path, json={}), 404)


@pytest.mark.parametrize("host", ["a b", "a/b?c#d", "user@evil.com", "\u00e9xample.com",
                                  "a:99999", "[::1", "a:0"])
def test_a_host_header_that_is_not_a_host_is_400(client, user_headers, host):
    response = client.get(f"{BASE}/applications",
                          headers={**user_headers, "Host": host.encode().decode("latin-1")})
    error = assert_error_response(response, 400)
    assert error["type"] == "invalidHost"


def test_an_http_1_1_request_without_host_is_400_with_absolute_error_links(app, user_headers):
    environ = EnvironBuilder(path=f"{BASE}/applications", headers=user_headers,
                             environ_overrides={"SERVER_PROTOCOL": "HTTP/1.1",
                                                "SERVER_NAME": "10.0.0.7",
                                                "SERVER_PORT": "8000"}).get_environ()
    del environ["HTTP_HOST"]  # the test client always sends one: call the app directly
    body, status, _headers = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("400")
    error = json.loads(b"".join(body))
    assert error["_error"]["type"] == "invalidHost"
    assert error["_profile"].startswith("http://10.0.0.7:8000/")


def test_an_empty_host_gets_an_error_whose_links_name_the_server(client, user_headers):
    response = client.get(f"{BASE}/applications", headers={**user_headers, "Host": ""},
                          environ_overrides={"SERVER_NAME": "10.0.0.7", "SERVER_PORT": "8000"})
    assert_error_response(response, 400)
    assert response.json["_profile"].startswith("http://10.0.0.7:8000/")


@pytest.mark.parametrize("query", ["state=running&state=canceled", "limit=1&limit=2",
                                   "filter=eq(state,running)&filter=eq(state,canceled)",
                                   "q=a&q=b"])
def test_a_query_parameter_given_twice_is_400(user, query):
    response = user.get(f"/applications?{query}")
    error = assert_error_response(response, 400)
    assert error["type"] == "invalidQueryParameter"
    assert error["attributes"]["name"] == query.split("=", 1)[0]


def test_an_action_target_given_twice_is_400_and_changes_nothing(user, application):
    app_id = application.json["_id"]
    response = user.post(f"/canceledApplications?application={app_id}&application={app_id}")
    assert_error_response(response, 400)
    assert user.get(f"/applications/{app_id}").json["state"] == application.json["state"]


@pytest.mark.parametrize("host", ["api.example.com", "api.example.com:8443", "10.0.0.7:8000",
                                  "[::1]:8000"])
def test_links_are_built_on_a_valid_host(app, user_headers, host):
    app.config["ACCOUNTAPPS_ALLOWED_HOSTS"] = ("api.example.com", "10.0.0.7", "::1")
    response = app.test_client().get(f"{BASE}/applications",
                                     headers={**user_headers, "Host": host})
    assert response.status_code == 200
    assert response.json["_links"]["self"]["href"].startswith(f"http://{host}{BASE}/")


def test_wrong_method_is_405_with_allow(user):
    response = user.delete("/applications")
    assert_error_response(response, 405)
    assert "GET" in response.headers["Allow"]


def test_missing_credentials_are_401_with_www_authenticate(client):
    response = client.get(f"{BASE}/applications", headers={"API-Key": API_KEY})
    assert_error_response(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_too_little_scope_is_403(client, create_body):
    response = client.post(f"{BASE}/applications", json=create_body(),
                           headers=headers_for("reader", "banking/read"))
    assert_error_response(response, 403)


# --- request bodies ----------------------------------------------------------

def test_wrong_content_type_is_415(user):
    response = user.call("POST", "/applications", data="accountName=x",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    error = assert_error_response(response, 415)
    assert error["attributes"]["contentType"] == "application/x-www-form-urlencoded"


def test_malformed_json_is_400(user):
    response = user.call("POST", "/applications", data='{"accountName": ',
                         headers={"Content-Type": "application/json"})
    assert_error_response(response, 400)


def test_json_that_is_not_an_object_is_400(user):
    assert_error_response(user.post("/applications", ["not", "an", "object"]), 400)


def test_deeply_nested_json_is_400_not_500(user):
    response = user.call("POST", "/applications", data="[" * 50000 + "]" * 50000,
                         headers={"Content-Type": "application/json"})
    assert_error_response(response, 400)


def test_body_over_the_size_limit_is_413(user, create_body):
    body = create_body(accountName="x" * (300 * 1024))
    assert_error_response(user.post("/applications", body), 413)


def test_unknown_body_field_is_400_naming_it(user, create_body):
    error = assert_error_response(user.post("/applications", create_body(nickname="x")), 400)
    assert embedded_names(error) == ["nickname"]


def test_unknown_nested_field_is_400_naming_its_path(user, create_body):
    body = create_body(**FUNDING)
    body["fundingAccount"]["iban"] = "DE00"
    error = assert_error_response(user.post("/applications", body), 400)
    assert embedded_names(error) == ["fundingAccount.iban"]


def test_every_bad_field_is_listed(user, create_body):
    body = create_body(fundingAmount={"value": 1, "currency": "XXX"})
    error = assert_error_response(user.post("/applications", body), 400)
    assert sorted(embedded_names(error)) == ["fundingAmount.currency", "fundingAmount.value"]


@pytest.mark.parametrize("value", [1500.0, 1500, "1,500.00", "-5.00", "1e3", "", " 5"])
def test_money_must_be_a_non_negative_decimal_string(user, create_body, value):
    body = create_body(fundingAmount={"value": value, "currency": "USD"})
    error = assert_error_response(user.post("/applications", body), 400)
    assert embedded_names(error) == ["fundingAmount.value"]


def test_unknown_currency_is_400(user, create_body):
    body = create_body(fundingAmount={"value": "10.00", "currency": "usd"})
    error = assert_error_response(user.post("/applications", body), 400)
    assert embedded_names(error) == ["fundingAmount.currency"]


def test_more_decimals_than_the_currency_has_is_400(user, create_body):
    body = create_body(fundingAmount={"value": "10.5", "currency": "JPY"})
    assert_error_response(user.post("/applications", body), 400)


def test_three_decimals_are_fine_for_a_three_decimal_currency(user, create_body):
    body = create_body(fundingAmount={"value": "10.125", "currency": "KWD"})
    assert user.post("/applications", body).status_code == 201


@pytest.mark.parametrize("routing", ["021000022", "02100002", "02100002a", "0210000210",
                                     "021000021\n", "\u0660" * 9])
def test_bad_routing_number_is_400(user, create_body, routing):
    funding = copy.deepcopy(FUNDING["fundingAccount"])
    funding["routingNumber"] = routing
    error = assert_error_response(user.post("/applications", create_body(
        fundingAccount=funding)), 400)
    assert embedded_names(error) == ["fundingAccount.routingNumber"]


@pytest.mark.parametrize("changes, field", [
    ({"fundingAmount": {"value": "1" * 40, "currency": "USD"}}, "fundingAmount.value"),
    ({"fundingAmount": {"value": "999999999999999.00", "currency": "USD"}},
     "fundingAmount.value"),
    ({"accountName": "x" * 5000}, "accountName"),
    ({"documents": [{"type": "id"}] * 51}, "documents"),
])
def test_huge_values_are_400(user, create_body, changes, field):
    error = assert_error_response(user.post("/applications", create_body(**changes)), 400)
    assert embedded_names(error) == [field]


def test_wrong_type_for_a_list_is_400(user, create_body):
    error = assert_error_response(user.post("/applications", create_body(applicants="me")), 400)
    assert embedded_names(error) == ["applicants"]


# --- crashes -----------------------------------------------------------------

@pytest.fixture
def crashing_app(app):
    """The app with a route that fails with an unexpected exception."""

    @requires(PUBLIC)
    def crash():
        raise RuntimeError("secret internals /etc/passwd")

    app.add_url_rule(f"{BASE}/crash", "crash", crash)
    return app


def test_unexpected_exception_is_500_error_response_without_details(crashing_app):
    response = crashing_app.test_client().get(f"{BASE}/crash", headers={"API-Key": API_KEY})
    error = assert_error_response(response, 500)
    text = response.get_data(as_text=True)
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert error["type"] == "internalError"


def test_unknown_product_is_422_error_response(user, create_body):
    body = create_body(_links={"apiture:product": {"href": "no-such-product"}})
    error = assert_error_response(user.post("/applications", body), 422)
    assert embedded_names(error) == ["_links.apiture:product"]


def test_a_value_the_database_cannot_hold_is_422_without_details(app):
    @requires(PUBLIC)
    def too_long():
        raise DataError("value too long for type character varying(16)")

    app.add_url_rule(f"{BASE}/tooLong", "too_long", too_long)
    response = app.test_client().get(f"{BASE}/tooLong", headers={"API-Key": API_KEY})
    error = assert_error_response(response, 422)
    assert error["type"] == "valueOutOfRange"
    assert "varying" not in response.get_data(as_text=True)


def test_long_applicant_names_are_kept_whole_in_the_document(user, create_body):
    long_name = "A" * 255
    body = create_body(applicants=[{"contact": {"firstName": long_name, "lastName": long_name}}])
    response = user.post("/applications", body)
    assert response.status_code == 201, response.json
    assert response.json["applicantName"] == (long_name + " " + long_name)[:255]
    assert response.json["applicants"][0]["contact"]["lastName"] == long_name


@pytest.mark.parametrize("full", ["123", "1" * 18, "12345678\n", "****12a"])
def test_bad_account_number_is_400(user, create_body, full):
    funding = copy.deepcopy(FUNDING["fundingAccount"])
    funding["accountNumbers"] = {"full": full}
    error = assert_error_response(user.post("/applications", create_body(
        fundingAccount=funding)), 400)
    assert embedded_names(error) == ["fundingAccount.accountNumbers.full"]


# --- action bodies -------------------------------------------------------------

@pytest.mark.parametrize("body", [["reason"], "reason", 5, {"reason": 5},
                                  {"reason": "x" * 1001}, {"reason": "x", "why": "y"}])
def test_action_body_not_of_the_documented_shape_is_400(admin, application, body):
    response = admin.post(f"/rejectedApplications?application={application.json['_id']}",
                          body)
    assert_error_response(response, 400)


def test_action_body_that_is_not_json_is_400(admin, application):
    response = admin.call("POST", f"/rejectedApplications?application={application.json['_id']}",
                          data="{reason", content_type="application/json")
    assert_error_response(response, 400)


def test_action_with_an_empty_json_body_is_performed(admin, application):
    response = admin.call("POST", f"/rejectedApplications?application={application.json['_id']}",
                          data="", content_type="application/json")
    assert response.status_code == 200
    assert response.json["state"] == "rejected"
