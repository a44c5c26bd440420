"""Only the host names the service is configured for are answered (``ACCOUNTAPPS_ALLOWED_HOSTS``).

Every absolute link and ``Location`` is built on the request's host: a host
nobody configured must not flow into them.
"""

from __future__ import annotations

import pytest
from conftest import BASE

from accountapps import create_app


def get(app, host: str, headers: dict[str, str], **kwargs):
    return app.test_client().get(f"{BASE}/applications", headers={**headers, "Host": host},
                                 **kwargs)


def assert_refused(response) -> None:
    assert response.status_code == 400, response.json
    error = response.json["_error"]
    assert error["type"] == "invalidHost"
    # No link of the error is built on the host it refuses.
    assert response.json["_profile"].startswith(f"{BASE}/schemas/")


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000",
                                  "LOCALHOST."])
def test_the_development_hosts_are_answered_by_default(app, user_headers, host):
    assert get(app, host, user_headers).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "10.0.0.7",
                                  "localhost.attacker.example", "[::2]"])
def test_another_host_is_400_by_default(app, user_headers, host):
    assert_refused(get(app, host, user_headers))


def test_a_host_answered_before_is_refused_once_the_setting_drops_it(app, user_headers):
    assert get(app, "localhost", user_headers).status_code == 200
    app.config["ACCOUNTAPPS_ALLOWED_HOSTS"] = ("bank.example.com",)
    assert_refused(get(app, "localhost", user_headers))


def test_another_host_is_refused_before_credentials_are_looked_at(app):
    assert_refused(get(app, "attacker.example", {}))


@pytest.fixture
def bank_app(app_settings):
    return create_app({**app_settings,
                       "ACCOUNTAPPS_ALLOWED_HOSTS": "api.bank.example, .branches.bank.example"})


@pytest.mark.parametrize("host", ["api.bank.example", "API.bank.example:443",
                                  "branches.bank.example", "north.branches.bank.example"])
def test_configured_hosts_and_subdomains_are_answered(bank_app, user_headers, host):
    response = get(bank_app, host, user_headers)
    assert response.status_code == 200
    assert response.json["_links"]["self"]["href"].startswith(f"http://{host}{BASE}/")


@pytest.mark.parametrize("host", ["localhost", "bank.example", "xbranches.bank.example",
                                  "api.bank.example.attacker.example"])
def test_hosts_not_configured_are_refused(bank_app, user_headers, host):
    assert_refused(get(bank_app, host, user_headers))


def test_a_star_answers_any_host(app_settings, user_headers):
    anywhere = create_app({**app_settings, "ACCOUNTAPPS_ALLOWED_HOSTS": "*"})
    assert get(anywhere, "anything.example", user_headers).status_code == 200


def test_behind_a_proxy_the_forwarded_host_is_the_one_checked(app_settings, user_headers):
    proxied = create_app({**app_settings, "ACCOUNTAPPS_BEHIND_PROXY": "1",
                          "ACCOUNTAPPS_ALLOWED_HOSTS": "api.bank.example"})
    client = proxied.test_client()
    ok = client.get(f"{BASE}/applications", headers={
        **user_headers, "Host": "10.0.0.7:8000", "X-Forwarded-Host": "api.bank.example",
        "X-Forwarded-Proto": "https"})
    assert ok.status_code == 200
    assert ok.json["_links"]["self"]["href"].startswith(f"https://api.bank.example{BASE}/")
    refused = client.get(f"{BASE}/applications", headers={
        **user_headers, "Host": "api.bank.example", "X-Forwarded-Host": "attacker.example"})
    assert_refused(refused)


@pytest.mark.parametrize("value", ["https://api.bank.example", "api.bank.example:443",
                                   "api bank", "a/b"])
def test_an_allowed_host_that_is_not_a_host_name_stops_the_start_up(app_settings, value):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_ALLOWED_HOSTS"):
        create_app({**app_settings, "ACCOUNTAPPS_ALLOWED_HOSTS": value})


@pytest.mark.parametrize("probe", ["live", "ready"])
def test_health_probes_are_answered_on_any_host(app, probe):
    # Load balancers and orchestrators probe an instance by its address.
    response = app.test_client().get(f"{BASE}/health/{probe}", headers={"Host": "10.0.0.9:8000"})
    assert response.status_code == 200
