"""Links a client sends lead only to the institution's platform (or stay relative).

The service shows them to the institution (administrators' views), and a client
that follows links sends its credentials along. The suite's platform is
www.example.com (``ACCOUNTAPPS_LINK_HOSTS`` in conftest.py); the test client
calls the API on http://localhost.
"""

from __future__ import annotations

import pytest
from conftest import USER_SCOPES, Api, headers_for
from enrollment_support import enrollment_body

from accountapps import create_app
from tests.openapi_validation import ValidatingClient

REFUSED = {
    "another host": "https://attacker.example/accounts/1",
    "javascript": "javascript:alert(document.cookie)",
    "data": "data:text/html,<script>alert(1)</script>",
    "plain http to the platform": "http://www.example.com/accounts/1",
    "a host of its own (//host)": "//attacker.example/accounts/1",
    "user information": "https://www.example.com@attacker.example/accounts/1",
    "a backslash": "https://www.example.com\\@attacker.example/",
    "a subdomain of the platform": "https://evil.www.example.com/accounts/1",
    "another port": "https://www.example.com:8443/accounts/1",
    "a space": "https://www.example.com/a b",
    "a bad port": "https://www.example.com:99999/",
}

ACCEPTED = {
    "https on the platform": "https://www.example.com/accounts/1",
    "the platform's host in capitals": "https://WWW.EXAMPLE.COM/accounts/1",
    "a relative path": "/accounts/accounts/1",
    "a relative reference": "accounts/1?x=1#y",
    "this API's own host": "http://localhost/accountApplications/applications/x",
}


def refused_field(response) -> str:
    assert response.status_code == 400, response.json
    [error] = response.json["_error"]["_embedded"]["errors"]
    return error["attributes"]["name"]


@pytest.mark.parametrize("href", REFUSED.values(), ids=REFUSED.keys())
def test_a_funding_account_link_elsewhere_is_400_naming_the_field(user, create_body, href):
    body = create_body()
    body["_links"]["apiture:fundingAccount"] = {"href": href}
    response = user.post("/applications", body)
    assert refused_field(response) == "_links.apiture:fundingAccount.href"


@pytest.mark.parametrize("href", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_funding_account_link_on_the_platform_or_relative_is_kept(user, create_body, href):
    body = create_body()
    body["_links"]["apiture:fundingAccount"] = {"href": href}
    response = user.post("/applications", body)
    assert response.status_code == 201, response.json
    assert response.json["_links"]["apiture:fundingAccount"]["href"] == href


def test_an_organization_link_elsewhere_is_400(user, create_body):
    body = create_body(organization={"name": "Acme", "_links": {
        "self": {"href": REFUSED["another host"]}}})
    assert refused_field(user.post("/applications", body)) == "organization._links.self.href"


def test_an_applicants_contact_link_elsewhere_is_400(user, create_body):
    body = create_body()
    body["applicants"][0]["contact"]["_links"]["self"]["href"] = REFUSED["javascript"]
    response = user.post("/applications", body)
    assert refused_field(response) == "applicants.0.contact._links.self.href"


def test_a_patch_cannot_bring_a_link_elsewhere(user, application):
    url = application.headers["Location"]
    response = user.patch(url, {"organization": {"_links": {"apiture:x": {
        "href": REFUSED["another host"]}}}}, headers={"If-Match": application.headers["ETag"]})
    assert refused_field(response) == "organization._links.apiture:x.href"


def test_an_enrollments_contact_link_elsewhere_is_400(user):
    body = enrollment_body()
    body["applicant"]["contact"]["_links"] = {"self": {"href": REFUSED["another host"]}}
    response = user.post("/enrollments", body)
    assert refused_field(response) == "applicant.contact._links.self.href"


def test_a_link_inside_an_embedded_object_obeys_the_rule_too(user):
    body = enrollment_body()
    body["applicant"]["contact"]["_embedded"] = {"items": [
        {"_links": {"self": {"href": REFUSED["javascript"]}}}]}
    response = user.post("/enrollments", body)
    assert refused_field(response) == "applicant.contact._embedded.items.0._links.self.href"


def test_a_product_reference_may_name_any_host_and_is_shown_as_the_catalogs(user, create_body):
    # The contract: a product reference is read for its id, on any host.
    body = create_body()
    body["_links"]["apiture:product"]["href"] = (
        "https://attacker.example/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18")
    body["products"][0]["_links"]["self"]["href"] = (
        "javascript:alert(1)//products/products/40ed6e40-cffa-4944-8d54-f9b50ed2081f")
    response = user.post("/applications", body)
    assert response.status_code == 201, response.json
    assert response.json["_links"]["apiture:product"]["href"].startswith("http://localhost/")
    # Linked like apiture:product: the catalog's resource (the platform's, when
    # ACCOUNTAPPS_PLATFORM_URL names one).
    assert response.json["products"][0]["_links"]["self"]["href"] == (
        "http://localhost/accountApplications/products/40ed6e40-cffa-4944-8d54-f9b50ed2081f")


def test_a_link_of_more_than_32_relations_is_400(user, create_body):
    body = create_body()
    body["_links"].update({f"r{n}": {"href": "/x"} for n in range(32)})
    assert refused_field(user.post("/applications", body)) == "_links"


@pytest.fixture
def platform_user(app_settings):
    """An institution whose platform is https://api.bank.example, with a development
    host reached over plain http."""
    application = create_app({**app_settings, "ACCOUNTAPPS_PLATFORM_URL": "https://api.bank.example",
                              "ACCOUNTAPPS_LINK_HOSTS": "http://dev.bank.test:9000"})
    application.config["TESTING"] = True
    application.test_client_class = ValidatingClient
    return Api(application.test_client(), headers_for("user-1", USER_SCOPES))


@pytest.mark.parametrize(("href", "status"), [
    ("https://api.bank.example/accounts/1", 201),
    ("http://api.bank.example/accounts/1", 400),
    ("http://dev.bank.test:9000/accounts/1", 201),
    ("https://dev.bank.test:9000/accounts/1", 201),
    ("http://dev.bank.test/accounts/1", 400),
    ("https://www.example.com/accounts/1", 400),
])
def test_the_platform_url_and_link_hosts_say_where_links_may_lead(platform_user, create_body,
                                                                  href, status):
    body = create_body()
    body["applicants"][0]["contact"]["_links"]["self"]["href"] = "/contacts/contacts/1"
    body["applicants"][0]["role"]["_links"]["self"]["href"] = "/associations/roles/1"
    body["_links"]["apiture:fundingAccount"] = {"href": href}
    assert platform_user.post("/applications", body).status_code == status


@pytest.mark.parametrize("value", ["ftp://a.example", "a.example/path", "user@a.example",
                                   "a.example:x"])
def test_a_link_host_that_is_not_a_host_stops_the_start_up(app_settings, value):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_LINK_HOSTS"):
        create_app({**app_settings, "ACCOUNTAPPS_LINK_HOSTS": value})


def test_when_any_host_is_answered_the_callers_host_is_no_link_host(app_settings, create_body):
    anywhere = create_app({**app_settings, "ACCOUNTAPPS_ALLOWED_HOSTS": "*"})
    body = create_body()
    body["_links"]["apiture:fundingAccount"] = {"href": "https://attacker.example/accounts/1"}
    response = anywhere.test_client().post(
        "/accountApplications/applications", json=body,
        headers={**headers_for("user-1", USER_SCOPES), "Host": "attacker.example"})
    assert response.status_code == 400
