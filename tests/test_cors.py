"""CORS for browser front ends (ACCOUNTAPPS_CORS_ORIGINS)."""

from __future__ import annotations

import pytest
from conftest import BASE

FRONT_END = "https://bank.example.com"


def preflight(client, origin: str = FRONT_END, method: str = "POST"):
    return client.options(f"{BASE}/applications", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "api-key, authorization, content-type, if-match"})


class TestConfigured:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings,
                "ACCOUNTAPPS_CORS_ORIGINS": f"{FRONT_END}, https://teller.example.com"}

    def test_a_preflight_needs_no_credentials(self, client):
        response = preflight(client)
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == FRONT_END

    def test_a_preflight_allows_the_api_headers_and_methods(self, client):
        response = preflight(client, method="PATCH")
        allowed = {h.strip().lower() for h in
                   response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"api-key", "authorization", "content-type", "if-match",
                "if-none-match"} <= allowed
        assert "PATCH" in response.headers["Access-Control-Allow-Methods"]

    def test_every_listed_origin_is_allowed(self, client):
        response = preflight(client, "https://teller.example.com")
        assert response.headers["Access-Control-Allow-Origin"] == "https://teller.example.com"

    def test_a_preflight_from_an_unlisted_origin_gets_no_cors_headers(self, client):
        response = preflight(client, "https://evil.example.com")
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_a_response_exposes_etag_location_and_request_id(self, user, create_body):
        response = user.post("/applications", create_body(), headers={"Origin": FRONT_END})
        assert response.status_code == 201
        assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
        exposed = {h.strip() for h in
                   response.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"ETag", "Location", "X-Request-ID"} <= exposed
        assert "Origin" in response.headers["Vary"]

    def test_error_responses_carry_cors_headers_too(self, client):
        response = client.get(f"{BASE}/applications", headers={"Origin": FRONT_END})
        assert response.status_code == 401
        assert response.headers["Access-Control-Allow-Origin"] == FRONT_END

    def test_a_response_to_an_unlisted_origin_has_no_cors_headers(self, user):
        response = user.get("/applications", headers={"Origin": "https://evil.example.com"})
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_credentials_are_not_allowed_as_cookies(self, client):
        assert "Access-Control-Allow-Credentials" not in preflight(client).headers


class TestWildcard:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_CORS_ORIGINS": "*"}

    def test_any_origin_is_allowed(self, client):
        response = preflight(client, "https://anything.example")
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_without_configuration_no_origin_is_allowed(client):
    response = preflight(client)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_plain_options_request_lists_the_methods_without_credentials(client):
    response = client.options(f"{BASE}/applications")
    assert response.status_code == 204
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))


def test_a_plain_options_answer_has_no_body_and_no_html_content_type(client):
    response = client.options(f"{BASE}/applications/some-id")
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert "X-Request-ID" in response.headers
