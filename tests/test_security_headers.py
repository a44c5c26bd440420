"""Security headers on every response; no stack traces; default deny."""

from __future__ import annotations

import pytest
from conftest import BASE

from accountapps.auth.security import requires

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.fixture
def app(app):
    """The app with two extra views: one that crashes, one that declares no scope."""

    @app.get(f"{BASE}/test-crash")
    @requires("banking/read")
    def crash():
        raise RuntimeError("secret detail: SELECT * FROM application")

    @app.get(f"{BASE}/test-undeclared")
    def undeclared():
        return {"leaked": True}

    return app


@pytest.mark.parametrize("path,status", [
    ("/applications", 200), ("/no/such/path", 404), ("/test-crash", 500)])
def test_every_response_carries_the_security_headers(user, path, status):
    response = user.get(path)
    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_each_security_header_is_sent_once(user):
    response = user.get("/applications")
    for name in (*EXPECTED, "Content-Security-Policy", "Cache-Control"):
        assert len(response.headers.getlist(name)) == 1


def test_a_views_own_cache_control_is_kept(client):
    response = client.get(f"{BASE}/health/live")
    assert response.headers.getlist("Cache-Control") == ["no-store"]


def test_an_unauthenticated_response_carries_them_too(client):
    response = client.get(f"{BASE}/applications")
    assert response.status_code == 401
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_crash_is_a_500_error_response_without_details(user):
    response = user.get("/test-crash")
    assert response.status_code == 500
    assert response.json["_error"]["type"] == "internalError"
    text = response.get_data(as_text=True)
    assert "secret detail" not in text and "Traceback" not in text and "SELECT" not in text


def test_a_view_that_declares_no_scope_is_refused_even_to_an_administrator(admin):
    response = admin.get("/test-undeclared")
    assert response.status_code == 403
    assert "leaked" not in response.get_data(as_text=True)


def test_https_responses_carry_strict_transport_security(app, user_headers):
    app.config["ACCOUNTAPPS_ALLOWED_HOSTS"] = ("bank.example.com",)
    response = app.test_client().get(f"{BASE}/applications", headers=user_headers,
                                     base_url="https://bank.example.com")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
