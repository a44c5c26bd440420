"""Links to the neighbouring APIs (Products, Approvals, Contacts): ``ACCOUNTAPPS_PLATFORM_URL``."""

from __future__ import annotations

import pytest
from conftest import USER_SCOPES, Api, headers_for
from enrollment_support import create

from accountapps import create_app
from tests.openapi_validation import ValidatingClient

PLATFORM = "https://api.bank.example/platform"


@pytest.fixture
def platform_app(app_settings):
    application = create_app({**app_settings, "ACCOUNTAPPS_PLATFORM_URL": PLATFORM + "/"})
    application.config["TESTING"] = True
    application.test_client_class = ValidatingClient
    return application


@pytest.fixture
def platform_user(platform_app):
    return Api(platform_app.test_client(), headers_for("user-1", USER_SCOPES))


def test_by_default_neighbouring_apis_are_on_the_host_this_api_was_called_on(user, application):
    links = user.get(application.headers["Location"]).json["_links"]
    assert links["apiture:approval"]["href"].startswith("http://localhost/approvals/approvals/")


def test_by_default_the_product_link_leads_to_this_services_catalog(user, application):
    links = user.get(application.headers["Location"]).json["_links"]
    assert links["apiture:product"]["href"].startswith(
        "http://localhost/accountApplications/products/")
    assert user.get(links["apiture:product"]["href"]).status_code == 200


def test_product_and_approval_links_use_the_platform_url(platform_user, create_body):
    created = platform_user.post("/applications", create_body())
    assert created.status_code == 201
    links = created.json["_links"]
    product_id = created.json["_links"]["apiture:product"]["href"].rsplit("/", 1)[1]
    assert links["apiture:product"]["href"] == f"{PLATFORM}/products/products/{product_id}"
    assert links["apiture:approval"]["href"].startswith(f"{PLATFORM}/approvals/approvals/")
    approval = created.json["accountApproval"]
    assert approval["_links"]["self"]["href"].startswith(f"{PLATFORM}/approvals/approvals/")
    # The service's own links stay on the host it was called on.
    assert links["self"]["href"].startswith("http://localhost/accountApplications/")


def test_a_relative_contact_link_of_an_enrollment_is_made_absolute_on_the_platform(
        platform_user):
    created = create(platform_user)
    assert created.status_code == 201
    assert created.json["_links"]["apiture:applicant"]["href"].startswith(f"{PLATFORM}/")


@pytest.mark.parametrize("value", ["api.bank.example", "ftp://api.bank.example", "https://",
                                   "https://api.bank.example/?x=1", "https://a b.example"])
def test_a_platform_url_that_is_not_an_absolute_http_url_is_refused_at_start_up(
        app_settings, value):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_PLATFORM_URL"):
        create_app({**app_settings, "ACCOUNTAPPS_PLATFORM_URL": value})
