"""ETags and preconditions: 304, 412, 428, If-Match ``*``; the check is in the database."""

import pytest
from conftest import USER_SCOPES, Api, headers_for
from db_helpers import row
from enrollment_support import create


@pytest.fixture
def url(application):
    return application.headers["Location"]


@pytest.fixture
def etag(application):
    return application.headers["ETag"]


def test_etag_is_strong_and_quoted(etag):
    assert not etag.startswith("W/")
    assert etag.startswith('"') and etag.endswith('"')


def test_get_with_matching_if_none_match_is_304_without_body(user, url, etag):
    response = user.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_if_none_match_with_weak_form_of_the_tag_is_304(user, url, etag):
    assert user.get(url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304


def test_if_none_match_with_a_list_containing_the_tag_is_304(user, url, etag):
    assert user.get(url, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304


def test_get_with_stale_if_none_match_is_200(user, url, etag):
    user.patch(url, {"accountName": "changed"}, headers={"If-Match": etag})
    response = user.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json["accountName"] == "changed"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_without_if_match_is_428(user, url, method):
    response = getattr(user, method)(url, {"accountName": "x"})
    assert response.status_code == 428
    assert response.json["_error"]["type"] == "preconditionRequired"


def test_delete_without_if_match_is_428(user, url):
    assert user.delete(url).status_code == 428


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_with_stale_if_match_is_412(user, url, etag, method):
    assert user.patch(url, {"accountName": "first"}, headers={"If-Match": etag}).status_code == 200
    response = getattr(user, method)(url, {"accountName": "second"}, headers={"If-Match": etag})
    assert response.status_code == 412
    assert response.json["_error"]["type"] == "preconditionFailed"
    assert user.get(url).json["accountName"] == "first"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_invalid_body_with_a_stale_if_match_is_400_not_412(user, url, etag, method):
    response = getattr(user, method)(url, {"accountName": 42}, headers={"If-Match": '"stale"'})
    assert response.status_code == 400  # the body is wrong whatever the revision
    assert user.get(url).headers["ETag"] == etag


def test_if_match_star_matches_any_revision(user, url):
    response = user.patch(url, {"accountName": "any"}, headers={"If-Match": "*"})
    assert response.status_code == 200


def test_if_match_list_containing_the_current_tag_matches(user, url, etag):
    response = user.patch(url, {"accountName": "x"}, headers={"If-Match": f'"1.0", {etag}'})
    assert response.status_code == 200


def test_weak_if_match_never_matches(user, url, etag):
    response = user.patch(url, {"accountName": "x"}, headers={"If-Match": f"W/{etag}"})
    assert response.status_code == 412


def test_tag_of_another_resource_is_412(user, other, url, create_body):
    others = other.post("/applications", create_body())
    response = user.patch(url, {"accountName": "x"},
                          headers={"If-Match": others.headers["ETag"]})
    assert response.status_code == 412


def test_garbage_if_match_is_412(user, url):
    assert user.patch(url, {"accountName": "x"}, headers={"If-Match": "nonsense"}
                      ).status_code == 412


@pytest.mark.parametrize("number", ["\u00b2", "\u00b9\u00b2", "1" * 4301, "1" * 19],
                         ids=["superscript", "superscripts", "4301-digits", "19-digits"])
def test_a_tag_whose_revision_no_resource_can_have_is_412(user, url, etag, number):
    tag = '"' + number + etag[etag.index("."):]
    response = user.call("PATCH", url, json={"accountName": "x"},
                         headers={"If-Match": tag.encode("utf-8").decode("latin-1")})
    assert response.status_code == 412
    assert user.get(url).headers["ETag"] == etag


def test_a_patch_that_changes_nothing_keeps_the_etag(app, user, url, etag, application):
    before = row(app, application.json["_id"])
    response = user.patch(url, {"accountName": application.json["accountName"]},
                          headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] == etag
    after = row(app, application.json["_id"])
    assert (after.revision, after.active_at) == (before.revision, before.active_at)


def test_a_patch_that_changes_nothing_still_needs_a_current_tag(user, url, etag, application):
    user.patch(url, {"accountName": "changed"}, headers={"If-Match": etag})
    response = user.patch(url, {"accountName": "changed"}, headers={"If-Match": etag})
    assert response.status_code == 412


def test_an_enrollment_patch_that_changes_nothing_keeps_the_etag(user):
    created = create(user)
    occupation = created.json["applicant"]["contact"]["occupation"]
    response = user.patch(created.headers["Location"],
                          {"applicant": {"contact": {"occupation": occupation}}},
                          headers={"If-Match": created.headers["ETag"]})
    assert response.status_code == 200
    assert response.headers["ETag"] == created.headers["ETag"]


def test_every_change_gives_a_new_etag(user, admin, url, etag, application):
    seen = {etag}
    patched = user.patch(url, {"accountName": "a"}, headers={"If-Match": etag})
    seen.add(patched.headers["ETag"])
    put = user.put(url, {"accountName": "b"}, headers={"If-Match": patched.headers["ETag"]})
    seen.add(put.headers["ETag"])
    canceled = user.post(f"/canceledApplications?application={application.json['_id']}")
    seen.add(canceled.headers["ETag"])
    assert len(seen) == 4
    assert user.get(url).headers["ETag"] == canceled.headers["ETag"]


def test_a_noop_action_keeps_the_etag(user, application):
    path = f"/canceledApplications?application={application.json['_id']}"
    first = user.post(path)
    assert user.post(path).headers["ETag"] == first.headers["ETag"]


def test_action_with_current_if_match_succeeds(admin, approvable):
    response = admin.post(f"/approvedApplications?application={approvable.json['_id']}",
                          headers={"If-Match": approvable.headers["ETag"]})
    assert response.status_code == 200


def test_action_with_stale_if_match_is_412_and_changes_nothing(user, admin, url, etag,
                                                              application):
    user.patch(url, {"accountName": "a"}, headers={"If-Match": etag})
    response = admin.post(f"/approvedApplications?application={application.json['_id']}",
                          headers={"If-Match": etag})
    assert response.status_code == 412
    assert user.get(url).json["state"] == "running"


def test_a_put_of_the_fetched_representation_keeps_the_etag(user, url, etag):
    fetched = user.get(url)
    response = user.put(url, fetched.json, headers={"If-Match": etag})
    assert response.status_code == 200
    assert response.headers["ETag"] == etag


@pytest.fixture
def pii_reader(client):
    """``user-1`` (the owner) with ``profiles/readPii``: the unmasked view."""
    return Api(client, headers_for("user-1", f"{USER_SCOPES} profiles/readPii"))


def test_the_masked_and_the_full_view_have_different_etags(user, pii_reader, url, etag):
    full = pii_reader.get(url)
    masked = user.get(url)
    assert full.json["fundingAccount"]["accountNumbers"]["full"] != \
        masked.json["fundingAccount"]["accountNumbers"]["full"]
    assert masked.headers["ETag"] == etag
    assert full.headers["ETag"] != etag
    assert full.headers["ETag"].startswith('"') and not full.headers["ETag"].startswith("W/")


def test_the_other_views_etag_is_no_match_for_if_none_match(user, pii_reader, url, etag):
    response = pii_reader.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json["fundingAccount"]["accountNumbers"]["full"]


@pytest.mark.parametrize("reader", ["user", "pii_reader"])
def test_either_views_etag_names_the_revision_for_if_match(request, pii_reader, url, reader):
    tag = request.getfixturevalue(reader).get(url).headers["ETag"]
    response = pii_reader.patch(url, {"accountName": "by either tag"}, headers={"If-Match": tag})
    assert response.status_code == 200
    stale = pii_reader.patch(url, {"accountName": "again"}, headers={"If-Match": tag})
    assert stale.status_code == 412


@pytest.mark.parametrize("unless", ["*", "current"])
def test_a_patch_with_a_matching_if_none_match_is_412_and_changes_nothing(
        user, url, etag, unless):
    headers = {"If-Match": etag, "If-None-Match": etag if unless == "current" else "*"}
    response = user.patch(url, {"accountName": "not this"}, headers=headers)
    assert response.status_code == 412
    assert user.get(url).headers["ETag"] == etag


def test_a_patch_whose_if_none_match_names_another_revision_goes_ahead(user, url, etag):
    stale = etag.replace('"1.', '"7.', 1)
    response = user.patch(url, {"accountName": "fine"},
                          headers={"If-Match": etag, "If-None-Match": stale})
    assert response.status_code == 200


def test_an_action_with_if_none_match_star_is_412(user, application):
    app_id = application.json["_id"]
    response = user.post(f"/canceledApplications?application={app_id}",
                         headers={"If-None-Match": "*"})
    assert response.status_code == 412
    assert user.get(f"/applications/{app_id}").json["state"] == application.json["state"]


def test_a_304_carries_the_headers_of_the_200(user, url, etag):
    full = user.get(url)
    response = user.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["ETag"] == full.headers["ETag"]
    assert response.headers["Vary"] == full.headers["Vary"]


def test_a_304_has_no_header_that_describes_a_body(user, url, etag):
    response = user.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert not {"Content-Type", "Content-Length"} & set(response.headers.keys())
    assert response.headers["X-Request-ID"] and response.headers["X-Content-Type-Options"]


def test_a_304_leaves_out_a_body_header_a_hook_adds():
    from accountapps.web.preconditions import NotModified

    response = NotModified({"ETag": '"a"', "Vary": "Authorization"})
    response.headers["Content-Language"] = "en"
    response.headers["Cache-Control"] = "private, no-cache"
    sent = response.get_wsgi_headers({})
    assert list(sent.items()) == [("ETag", '"a"'), ("Vary", "Authorization"),
                                  ("Cache-Control", "private, no-cache")]


def test_another_users_application_is_404_even_with_its_matching_tag(other, url, etag):
    assert other.get(url, headers={"If-None-Match": etag}).status_code == 404


def test_if_none_match_star_on_a_missing_application_is_404(user):
    missing = "/applications/00000000-0000-4000-8000-000000000000"
    assert user.get(missing, headers={"If-None-Match": "*"}).status_code == 404


def test_an_enrollment_with_a_matching_if_none_match_is_304(user):
    enrollment = create(user)
    response = user.get(enrollment.headers["Location"],
                        headers={"If-None-Match": enrollment.headers["ETag"]})
    assert response.status_code == 304
    assert response.headers["ETag"] == enrollment.headers["ETag"]


def test_an_enrollment_with_a_stale_if_none_match_is_200(user):
    enrollment = create(user)
    stale = enrollment.headers["ETag"].replace('"1.', '"7.', 1)
    response = user.get(enrollment.headers["Location"], headers={"If-None-Match": stale})
    assert response.status_code == 200
    assert response.json["_id"] == enrollment.json["_id"]


def test_another_users_enrollment_is_404_even_with_its_matching_tag(user, other):
    enrollment = create(user)
    response = other.get(enrollment.headers["Location"],
                         headers={"If-None-Match": enrollment.headers["ETag"]})
    assert response.status_code == 404


def test_a_workflow_with_its_matching_if_none_match_is_304(user, url):
    first = user.get(f"{url}/workflow")
    response = user.get(f"{url}/workflow", headers={"If-None-Match": first.headers["ETag"]})
    assert response.status_code == 304
    assert response.headers["ETag"] == first.headers["ETag"]


def test_another_users_workflow_is_404_even_with_its_matching_tag(user, other, url):
    tag = user.get(f"{url}/workflow").headers["ETag"]
    assert other.get(f"{url}/workflow", headers={"If-None-Match": tag}).status_code == 404


def test_head_with_a_matching_if_none_match_is_304(user, url, etag):
    response = user.call("HEAD", url, headers={"If-None-Match": etag})
    assert response.status_code == 304


def test_a_tag_with_a_leading_zero_is_not_the_tag(user, url, etag):
    padded = etag.replace('"1.', '"01.', 1)
    assert user.patch(url, {"accountName": "x"}, headers={"If-Match": padded}).status_code == 412
