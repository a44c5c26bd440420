"""GET /enrollments: paging, sorting, filtering (flaggedForReview too) and searching."""

from __future__ import annotations

import pytest
from conftest import USER_SCOPES, Api, headers_for
from enrollment_support import contact_with, create, enrollment_body

PEOPLE = [("Anna", "Arendelle"), ("Kristoff", "Bjorgman"), ("Hans", "Westergaard")]


@pytest.fixture
def enrollments(client, admin):
    """Three users' enrollments; the second is flagged for review, the third rejected."""
    made = []
    for index, (first, last) in enumerate(PEOPLE):
        api = Api(client, headers_for(f"person-{index}", USER_SCOPES))
        body = enrollment_body(applicant=contact_with(firstName=first, lastName=last))
        body["applicant"]["username"] = f"{first.lower()}{index}"
        made.append(create(api, body).json)
    second = admin.get(made[1]["_links"]["self"]["href"])
    admin.patch(second.json["_links"]["self"]["href"], {"flaggedForReview": True},
                headers={"If-Match": second.headers["ETag"]})
    admin.post(f"/rejectedEnrollments?enrollment={made[2]['_id']}")
    return made


def names(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["applicantName"] for item in response.json["_embedded"]["items"]]


def test_collection_has_paging_fields_and_summaries(admin, enrollments):
    body = admin.get("/enrollments").json
    assert body["count"] == 3 and body["start"] == 0 and body["limit"] == 100
    assert body["name"] == "enrollments"
    item = body["_embedded"]["items"][0]
    for key in ("_id", "_profile", "_links", "state", "applicantName", "flaggedForReview"):
        assert key in item
    assert body["_links"]["collection"]["href"] == "http://localhost/accountApplications/enrollments"


def test_users_see_only_their_own_enrollments(client, enrollments):
    api = Api(client, headers_for("person-0", USER_SCOPES))
    assert names(api.get("/enrollments")) == ["Anna Arendelle"]


def test_sort_by_applicant_name_descending(admin, enrollments):
    assert names(admin.get("/enrollments?sortBy=-applicantName")) == [
        "Kristoff Bjorgman", "Hans Westergaard", "Anna Arendelle"]


def test_unknown_sort_field_is_422(admin, enrollments):
    assert admin.get("/enrollments?sortBy=shoeSize").status_code == 422


def test_filter_on_flagged_for_review(admin, enrollments):
    assert names(admin.get("/enrollments?filter=eq(flaggedForReview,true)")) == [
        "Kristoff Bjorgman"]


def test_simple_flagged_for_review_filter(admin, enrollments):
    assert sorted(names(admin.get("/enrollments?flaggedForReview=false"))) == [
        "Anna Arendelle", "Hans Westergaard"]


def test_flagged_for_review_takes_booleans_only(admin, enrollments):
    assert admin.get("/enrollments?filter=eq(flaggedForReview,maybe)").status_code == 422


def test_filter_on_state(admin, enrollments):
    assert names(admin.get("/enrollments?state=rejected")) == ["Hans Westergaard"]
    assert names(admin.get("/enrollments?filter=ne(state,rejected)&sortBy=applicantName")) == [
        "Anna Arendelle", "Kristoff Bjorgman"]


def test_filter_on_completed_at(admin, enrollments):
    assert names(admin.get("/enrollments?filter=isNotNull(completedAt)")) == ["Hans Westergaard"]


def test_filter_on_unknown_field_is_422(admin, enrollments):
    assert admin.get("/enrollments?filter=eq(accountName,x)").status_code == 422


def test_malformed_filter_is_400(admin, enrollments):
    assert admin.get("/enrollments?filter=eq(state").status_code == 400


def test_search_names_case_insensitively(admin, enrollments):
    assert names(admin.get("/enrollments?q=BJORG")) == ["Kristoff Bjorgman"]


def test_search_usernames(admin, enrollments):
    assert names(admin.get("/enrollments?q=hans2")) == ["Hans Westergaard"]


def test_paging_links(admin, enrollments):
    body = admin.get("/enrollments?limit=2&sortBy=applicantName").json
    assert [i["applicantName"] for i in body["_embedded"]["items"]] == [
        "Anna Arendelle", "Hans Westergaard"]
    next_page = admin.get(body["_links"]["next"]["href"]).json
    assert [i["applicantName"] for i in next_page["_embedded"]["items"]] == ["Kristoff Bjorgman"]
    assert "next" not in next_page["_links"]


def test_negative_start_is_422(admin):
    assert admin.get("/enrollments?start=-1").status_code == 422


def test_api_doc_describes_the_enrollment_operations(client):
    spec = client.get("/accountApplications/apiDoc",
                      headers={"API-Key": "test-api-key-0123456789"}).json
    paths = spec["paths"]
    # Paths are relative to the server URL /accountApplications, as in the reference.
    assert {"get", "post"} <= set(paths["/enrollments"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/enrollments/{enrollmentId}"])
    assert "post" in paths["/approvedEnrollments"]


def test_collection_link_of_a_new_enrollment_lists_it(user):
    created = create(user, enrollment_body()).json
    assert [i["_id"] for i in user.get("/enrollments").json["_embedded"]["items"]] == [
        created["_id"]]
