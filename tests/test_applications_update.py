"""updateApplication (PUT replaces) and patchApplication (PATCH merges)."""

import copy

import pytest
from conftest import FUNDING


@pytest.fixture
def url(application):
    return application.headers["Location"]


@pytest.fixture
def tag(application):
    return {"If-Match": application.headers["ETag"]}


def test_put_replaces_the_whole_application(user, url, tag):
    response = user.put(url, {"accountName": "Rainy day"}, headers=tag)
    assert response.status_code == 200
    body = response.json
    assert body["accountName"] == "Rainy day"
    assert "fundingAmount" not in body
    assert "fundingAccount" not in body
    assert body["applicants"] == []


def test_put_of_the_fetched_representation_is_accepted(user, url, tag, application):
    representation = copy.deepcopy(application.json)
    representation["accountName"] = "Renamed"
    response = user.put(url, representation, headers=tag)
    assert response.status_code == 200, response.json
    assert response.json["accountName"] == "Renamed"
    assert response.json["applicants"] == application.json["applicants"]


def test_patch_changes_only_the_given_fields(user, url, tag, application):
    response = user.patch(url, {"accountName": "Rainy day"}, headers=tag)
    assert response.status_code == 200
    assert response.json["accountName"] == "Rainy day"
    assert response.json["fundingAmount"] == application.json["fundingAmount"]
    assert response.json["applicants"] == application.json["applicants"]


def test_patch_merges_nested_objects(user, url, tag):
    response = user.patch(url, {"fundingAmount": {"value": "20.00"}}, headers=tag)
    assert response.status_code == 200
    assert response.json["fundingAmount"] == {"value": "20.00", "currency": "USD"}


def test_patch_null_removes_a_field(user, url, tag):
    response = user.patch(url, {"fundingAmount": None}, headers=tag)
    assert response.status_code == 200
    assert "fundingAmount" not in response.json


def test_patch_accepts_merge_patch_media_type(user, url, tag):
    response = user.call("PATCH", url, data='{"accountName": "Merged"}',
                         headers={**tag, "Content-Type": "application/merge-patch+json"})
    assert response.status_code == 200
    assert response.json["accountName"] == "Merged"


def test_derived_applicant_name_follows_the_applicants(user, url, tag, application):
    applicants = copy.deepcopy(application.json["applicants"])
    applicants[0]["contact"]["firstName"] = "Anna"
    response = user.patch(url, {"applicants": applicants}, headers=tag)
    assert response.json["applicantName"] == "Anna Snowqueen"


@pytest.mark.parametrize("field, value", [
    ("_id", "00000000-0000-0000-0000-000000000000"),
    ("state", "approved"),
    ("workflowState", "completed"),
    ("createdAt", "2000-01-01T00:00:00.000Z"),
    ("completedAt", "2000-01-01T00:00:00.000Z"),
    ("productName", "Something else"),
    ("applicantName", "Someone else"),
])
def test_read_only_fields_are_accepted_and_ignored_by_patch(user, url, tag, application,
                                                           field, value):
    response = user.patch(url, {field: value}, headers=tag)
    assert response.status_code == 200, response.json
    assert response.json[field] == application.json[field]


def test_read_only_fields_are_ignored_by_put(user, url, tag, application):
    body = {"accountName": "x", "_id": "other", "state": "approved",
            "createdAt": "2000-01-01T00:00:00.000Z"}
    response = user.put(url, body, headers=tag)
    assert response.status_code == 200
    for field in ("_id", "state", "createdAt"):
        assert response.json[field] == application.json[field]


def test_links_in_an_update_are_ignored(user, url, tag, application):
    links = {"apiture:product": {
        "href": "https://example.com/products/products/40ed6e40-cffa-4944-8d54-f9b50ed2081f"},
        "self": {"href": "https://example.com/elsewhere"}}
    response = user.patch(url, {"_links": links, "accountName": "L"}, headers=tag)
    assert response.status_code == 200
    assert response.json["productName"] == application.json["productName"]
    assert response.json["_links"]["self"] == application.json["_links"]["self"]
    assert response.json["_links"]["apiture:product"] == (
        application.json["_links"]["apiture:product"])


def test_embedded_in_an_update_is_ignored(user, url, tag):
    response = user.patch(url, {"_embedded": {"x": 1}, "accountName": "E"}, headers=tag)
    assert response.status_code == 200
    assert "_embedded" not in response.json


def test_masked_account_number_sent_back_keeps_the_stored_number(user, admin, url, tag,
                                                                application):
    fetched = application.json
    assert fetched["fundingAccount"]["accountNumbers"]["full"].startswith("*")
    response = user.put(url, fetched, headers=tag)
    assert response.status_code == 200, response.json
    stored = admin.get(url).json["fundingAccount"]["accountNumbers"]["full"]
    assert stored == FUNDING["fundingAccount"]["accountNumbers"]["full"]


def test_a_new_account_number_replaces_the_stored_one(user, admin, url, tag):
    account = copy.deepcopy(FUNDING["fundingAccount"])
    account["accountNumbers"] = {"full": "11112222"}
    response = user.patch(url, {"fundingAccount": account}, headers=tag)
    assert response.status_code == 200
    assert admin.get(url).json["fundingAccount"]["accountNumbers"]["full"] == "11112222"


def test_unknown_field_in_an_update_is_400_naming_it(user, url, tag):
    response = user.patch(url, {"acountName": "typo"}, headers=tag)
    assert response.status_code == 400
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["acountName"]


def test_invalid_value_in_a_patch_is_400_and_changes_nothing(user, url, tag, application):
    response = user.patch(url, {"fundingAmount": {"value": "-1", "currency": "USD"}},
                          headers=tag)
    assert response.status_code == 400
    assert user.get(url).headers["ETag"] == application.headers["ETag"]


def test_update_changes_the_etag(user, url, tag, application):
    response = user.patch(url, {"accountName": "New"}, headers=tag)
    assert response.headers["ETag"] != application.headers["ETag"]
    assert user.get(url).headers["ETag"] == response.headers["ETag"]


def test_someone_elses_application_cannot_be_updated(other, url, tag):
    assert other.patch(url, {"accountName": "mine"}, headers=tag).status_code == 404


def test_completed_application_cannot_be_updated(user, admin, approvable):
    url = approvable.json["_links"]["self"]["href"]
    approved = admin.post(f"/approvedApplications?application={approvable.json['_id']}")
    assert approved.status_code == 200, approved.json
    response = user.patch(url, {"accountName": "late"},
                          headers={"If-Match": approved.headers["ETag"]})
    assert response.status_code == 409
    assert response.json["_error"]["attributes"]["state"] == "approved"


# --- masked values sent back ----------------------------------------------------

ORGANIZATION = {"name": "Acme", "taxId": "12-3456789"}  # shown as ******6789


@pytest.fixture
def organization(user, create_body):
    """A running application of ``user-1`` with an organization's tax id (the response)."""
    response = user.post("/applications", create_body(organization=ORGANIZATION, **FUNDING))
    assert response.status_code == 201, response.json
    return response


def test_a_masked_tax_id_sent_back_keeps_the_stored_one(user, admin, organization):
    fetched = organization.json
    assert fetched["organization"]["taxId"] == "******6789"
    response = user.put(fetched["_links"]["self"]["href"], fetched,
                        headers={"If-Match": organization.headers["ETag"]})
    assert response.status_code == 200, response.json
    stored = admin.get(fetched["_links"]["self"]["href"]).json["organization"]["taxId"]
    assert stored == ORGANIZATION["taxId"]


@pytest.mark.parametrize("tax_id", ["*****0000", "******6788", "*******6789", "*6789"])
def test_a_masked_tax_id_that_is_not_the_one_shown_is_400(user, admin, organization, tax_id):
    url = organization.json["_links"]["self"]["href"]
    response = user.patch(url, {"organization": {"taxId": tax_id}},
                          headers={"If-Match": organization.headers["ETag"]})
    assert response.status_code == 400, response.json
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["organization.taxId"]
    assert user.get(url).headers["ETag"] == organization.headers["ETag"]


@pytest.mark.parametrize("full", ["******1111", "*****3210", "*******3210"])
def test_a_masked_account_number_that_is_not_the_one_shown_is_400(user, url, tag, application,
                                                                 full):
    account = copy.deepcopy(application.json["fundingAccount"])
    assert account["accountNumbers"]["full"] == "******3210"
    account["accountNumbers"]["full"] = full
    response = user.put(url, {**application.json, "fundingAccount": account}, headers=tag)
    assert response.status_code == 400, response.json
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["fundingAccount.accountNumbers.full"]
    assert user.get(url).headers["ETag"] == application.headers["ETag"]


def test_a_masked_value_that_replaces_nothing_stored_is_400(user, create_body):
    created = user.post("/applications", create_body())
    response = user.patch(created.json["_links"]["self"]["href"],
                          {"organization": {"name": "Acme", "taxId": "*****6789"}},
                          headers={"If-Match": created.headers["ETag"]})
    assert response.status_code == 400, response.json


@pytest.mark.parametrize("patch, read", [
    ({"accountName": "*Star"}, lambda body: body["accountName"]),
    ({"organization": {"name": "**Asterisk"}}, lambda body: body["organization"]["name"]),
    ({"fundingAccount": {"title": "*****"}}, lambda body: body["fundingAccount"]["title"]),
])
def test_a_name_beginning_with_an_asterisk_is_stored(user, admin, organization, patch, read):
    url = organization.json["_links"]["self"]["href"]
    response = user.patch(url, patch, headers={"If-Match": organization.headers["ETag"]})
    assert response.status_code == 200, response.json
    sent = read(patch)
    assert read(response.json) == sent
    assert read(admin.get(url).json) == sent

