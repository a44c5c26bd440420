"""createApplication and getApplication: the representation of a new application."""

import re
import time
import uuid

import pytest
from conftest import BASE, FUNDING, USER_SCOPES, Api, headers_for

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
PREMIERE = "51df9a81-2cb8-4515-aad1-9543b3c4fc18"


def test_reference_example_verbatim_gives_201_with_absolute_location_and_etag(user, create_body):
    response = user.post("/applications", create_body())
    assert response.status_code == 201
    assert re.fullmatch(rf"http://localhost{BASE}/applications/[0-9a-f-]{{36}}",
                        response.headers["Location"])
    assert response.headers["ETag"].startswith('"')
    assert response.mimetype == "application/hal+json"


def test_application_ids_are_uuids_ordered_by_creation_time(client, create_body):
    ids = []
    for index in range(2):
        api = Api(client, headers_for(f"ordered-{index}", USER_SCOPES))
        ids.append(api.post("/applications", create_body()).json["_id"])
        time.sleep(0.002)  # a later millisecond
    assert [uuid.UUID(value).version for value in ids] == [7, 7]
    assert ids[0] < ids[1]  # new rows append to the indexes' last leaf


def test_location_names_the_created_application(user, application):
    fetched = user.get(application.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.json == application.json
    assert fetched.headers["ETag"] == application.headers["ETag"]


def test_representation_has_every_field_of_the_reference_example(application):
    body = application.json
    for name in ("_id", "_profile", "applicantName", "accountName", "productName",
                 "fundingAmount", "state", "workflowState", "createdAt", "completedAt",
                 "fundingAccount", "organization", "applicants", "products", "documents",
                 "accountApproval", "consents", "_links"):
        assert name in body, name


def test_new_application_is_running_with_a_running_workflow(application):
    assert application.json["state"] == "running"
    assert application.json["workflowState"] == "running"
    assert application.json["completedAt"] is None


def test_created_at_is_rfc3339_utc(application):
    assert RFC3339.match(application.json["createdAt"])


def test_derived_names_come_from_the_catalog_and_the_applicants(application):
    body = application.json
    assert body["productName"] == "Premiere Savings"
    assert body["applicantName"] == "Elsa Snowqueen"
    assert body["accountName"] == "My checking account"


def test_money_is_a_decimal_string_with_its_currency(application):
    assert application.json["fundingAmount"] == {"value": "1500.00", "currency": "USD"}


def test_links_of_an_application(application):
    links = application.json["_links"]
    assert links["self"]["href"] == application.headers["Location"]
    assert links["apiture:product"]["href"] == f"http://localhost{BASE}/products/{PREMIERE}"
    assert links["apiture:workflow"]["href"] == f"{application.headers['Location']}/workflow"
    assert links["apiture:applicant"]["href"].endswith(
        "/users/user/3017d005-9910-4a8b-874b-397749353e7a")
    assert links["apiture:approval"]["href"] == (
        application.json["accountApproval"]["_links"]["self"]["href"])


def test_funding_account_and_organization_links_are_kept_from_the_request(user, create_body):
    body = create_body()
    body["_links"]["apiture:fundingAccount"] = {"href": "https://www.example.com/accounts/a/1"}
    body["_links"]["apiture:organization"] = {"href": "https://www.example.com/orgs/o/1"}
    links = user.post("/applications", body).json["_links"]
    assert links["apiture:fundingAccount"]["href"] == "https://www.example.com/accounts/a/1"
    assert links["apiture:organization"]["href"] == "https://www.example.com/orgs/o/1"


def test_links_absent_when_they_do_not_apply(application):
    links = application.json["_links"]
    assert "apiture:fundingAccount" not in links
    assert "apiture:organization" not in links


def test_product_may_be_named_by_bare_id(user, create_body):
    response = user.post("/applications", create_body(_links={
        "apiture:product": {"href": PREMIERE}}))
    assert response.status_code == 201
    assert response.json["productName"] == "Premiere Savings"


def test_product_href_may_have_any_host(user, create_body):
    response = user.post("/applications", create_body(_links={
        "apiture:product": {"href": f"http://bank.test:8080/products/products/{PREMIERE}"}}))
    assert response.status_code == 201


def test_unknown_product_is_422_naming_the_field(user, create_body):
    response = user.post("/applications", create_body(_links={
        "apiture:product": {"href": "https://example.com/products/products/no-such-product"}}))
    assert response.status_code == 422
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["_links.apiture:product"]


def test_unknown_product_in_products_list_is_422(user, create_body):
    body = create_body()
    body["products"][0]["_links"]["self"]["href"] = "https://example.com/products/products/zz"
    response = user.post("/applications", body)
    assert response.status_code == 422
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["products[0]._links.self"]


def test_missing_product_is_400(user, create_body):
    body = create_body(_links={})
    del body["products"]
    assert user.post("/applications", body).status_code == 400


def test_account_number_is_masked_without_pii_scope(application):
    numbers = application.json["fundingAccount"]["accountNumbers"]
    assert numbers == {"full": "******3210", "masked": "******3210"}


def test_account_number_is_shown_in_full_with_pii_scope(admin, application):
    numbers = admin.get(application.headers["Location"]).json["fundingAccount"][
        "accountNumbers"]
    assert numbers == {"full": "9876543210", "masked": "******3210"}


def test_funding_fields_are_kept(application):
    account = application.json["fundingAccount"]
    assert account["routingNumber"] == FUNDING["fundingAccount"]["routingNumber"]
    assert account["institutionName"] == "3rd Party Bank"


def test_someone_elses_application_is_404_like_a_missing_one(other, application):
    mine = other.get(application.headers["Location"])
    missing = other.get("/applications/00000000-0000-0000-0000-000000000000")
    assert mine.status_code == missing.status_code == 404
    assert mine.json["_error"]["type"] == missing.json["_error"]["type"]


def test_administrator_sees_any_application(admin, application):
    assert admin.get(application.headers["Location"]).status_code == 200


def test_masked_account_number_on_create_is_400(user, create_body):
    funding = {**FUNDING["fundingAccount"], "accountNumbers": {"full": "******3210"}}
    response = user.post("/applications", create_body(fundingAccount=funding))
    assert response.status_code == 400
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["fundingAccount.accountNumbers.full"]


def test_masked_tax_id_on_create_is_400(user, create_body):
    response = user.post("/applications", create_body(
        organization={"name": "Acme", "taxId": "*****3333"}))
    assert response.status_code == 400


def test_tax_id_is_masked_without_pii_scope(user, admin, create_body):
    created = user.post("/applications", create_body(
        organization={"name": "Acme", "taxId": "112223333"}))
    assert created.json["organization"]["taxId"] == "*****3333"
    assert admin.get(created.headers["Location"]).json["organization"]["taxId"] == "112223333"


@pytest.mark.parametrize("templated", [0, 1, "true"])
def test_a_link_that_is_templated_says_so_with_a_json_boolean(user, create_body, templated):
    body = create_body()
    body["_links"]["apiture:fundingAccount"] = {"href": "https://www.example.com/accounts/1",
                                                "templated": templated}
    response = user.post("/applications", body)
    assert response.status_code == 400
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["_links.apiture:fundingAccount.templated"]


@pytest.mark.parametrize("revised_at, status", [
    ("2019-07-23T08:26:45.375Z", 201), ("July 2019", 400), ("2019-02-30T08:26:45Z", 400)])
def test_a_consent_documents_revised_at_is_an_rfc3339_date_time(user, create_body,
                                                                revised_at, status):
    body = create_body(consents=[{"type": "privacyPolicy", "document": {
        "uri": "https://bank.example/privacy.pdf", "revisedAt": revised_at}}])
    assert user.post("/applications", body).status_code == status
