"""createEnrollment and getEnrollment: the reference's example, the one-active rule."""

from __future__ import annotations

import copy
import uuid

from conftest import Api, headers_for
from enrollment_support import REFERENCE_ENROLLMENT, create, enrollment_body


def test_reference_example_creates_an_enrollment_with_location_and_etag(user):
    response = user.post("/enrollments", enrollment_body())
    assert response.status_code == 201, response.json
    assert response.headers["Location"].startswith("http://localhost/accountApplications/enrollments/")
    assert response.headers["ETag"].startswith('"')
    assert response.json["_links"]["self"]["href"] == response.headers["Location"]


def test_an_enrollment_id_is_a_time_ordered_uuid(user):
    created = user.post("/enrollments", enrollment_body()).json["_id"]
    assert uuid.UUID(created).version == 7


def test_new_enrollment_is_running_and_named_for_its_applicant(user):
    body = create(user).json
    assert body["state"] == "running"
    assert body["workflowState"] == "running"
    assert body["applicantName"] == "John Smith"
    assert body["flaggedForReview"] is False
    assert body["completedAt"] is None
    assert body["createdAt"].endswith("Z")


def test_representation_has_every_top_level_field_of_the_reference(user):
    body = create(user).json
    for name in ("_id", "_profile", "_links", "applicant", "applicants", "requiredDocuments",
                 "documents", "approvals", "applicantName", "workflowState", "state",
                 "flaggedForReview", "createdAt", "completedAt"):
        assert name in body, name


def test_institution_creating_the_example_gets_back_every_field_it_sent(admin):
    body = create(admin).json
    sent = REFERENCE_ENROLLMENT["applicant"]
    got = body["applicant"]
    for key in ("username", "contact", "role", "verification", "approvals", "fraudReport"):
        assert got[key] == sent[key], key
    expected_user = {k: v for k, v in sent["user"].items() if k != "_error"}
    assert got["user"] == expected_user
    assert got["verified"] is True  # the example's identity is verified
    consent = got["consents"][0]
    for key in ("_profile", "document", "state", "type", "contextUri", "_links"):
        assert consent[key] == sent["consents"][0][key]
    assert body["requiredDocuments"] == REFERENCE_ENROLLMENT["requiredDocuments"]
    assert body["documents"] == REFERENCE_ENROLLMENT["documents"]
    assert len(body["applicants"]) == 1
    assert body["applicants"][0]["fraudReport"] == REFERENCE_ENROLLMENT["applicants"][0][
        "fraudReport"]


def test_risky_fraud_report_flags_the_enrollment_for_review(admin):
    body = create(admin).json  # the example's report is passedWithRiskFactors
    assert body["flaggedForReview"] is True


def test_user_cannot_set_server_owned_fields_on_create(user):
    body = enrollment_body(flaggedForReview=True, approvals=[{"reason": "self-approved"}])
    got = create(user, body).json
    applicant = got["applicant"]
    for key in ("verification", "approvals", "fraudReport"):
        assert key not in applicant, key
    assert "identityVerification" not in applicant["contact"]
    assert applicant["verified"] is False
    assert got["approvals"] == []
    assert got["flaggedForReview"] is False


def test_consents_are_stamped_by_the_service(user):
    consent = create(user).json["applicant"]["consents"][0]
    assert consent["userId"] == "user-1"
    assert consent["_id"] != REFERENCE_ENROLLMENT["applicant"]["consents"][0]["_id"]
    assert consent["givenAt"] != REFERENCE_ENROLLMENT["applicant"]["consents"][0]["givenAt"]


def test_get_returns_the_enrollment_with_its_etag(user):
    created = create(user)
    response = user.get(created.headers["Location"])
    assert response.status_code == 200
    assert response.headers["ETag"] == created.headers["ETag"]
    assert response.json["_id"] == created.json["_id"]


def test_get_with_matching_if_none_match_is_304(user):
    created = create(user)
    response = user.get(created.headers["Location"],
                        headers={"If-None-Match": created.headers["ETag"]})
    assert response.status_code == 304
    assert response.data == b""


def test_someone_elses_enrollment_is_404(user, other):
    created = create(user)
    response = other.get(created.headers["Location"])
    assert response.status_code == 404
    assert response.json["_error"]["statusCode"] == 404


def test_unknown_enrollment_is_404(user):
    assert user.get("/enrollments/no-such-enrollment").status_code == 404


def test_second_active_enrollment_of_a_user_is_409(user):
    create(user)
    response = user.post("/enrollments", enrollment_body())
    assert response.status_code == 409
    assert response.json["_error"]["type"] == "enrollmentInProgress"


def test_other_users_may_enroll_at_the_same_time(user, other):
    create(user)
    assert other.post("/enrollments", enrollment_body()).status_code == 201


def test_a_rejected_enrollment_no_longer_blocks_a_new_one(user, admin):
    created = create(user).json
    rejected = admin.post(f"/rejectedEnrollments?enrollment={created['_id']}")
    assert rejected.status_code == 200
    assert user.post("/enrollments", enrollment_body()).status_code == 201


def test_an_applicant_list_alone_is_enough(user):
    body = enrollment_body()
    del body["applicant"]
    got = create(user, body).json
    assert got["applicantName"] == "John Smith"


def test_enrollment_without_applicant_is_400_naming_it(user):
    body = {"requiredDocuments": [], "documents": []}
    response = user.post("/enrollments", body)
    assert response.status_code == 400
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert names == ["applicant"]


def test_creating_needs_write_scope(client):
    reader = Api(client, headers_for("reader", "banking/read"))
    assert reader.post("/enrollments", enrollment_body()).status_code == 403


def test_root_links_to_enrollments_and_their_actions(client):
    response = client.get("/accountApplications/", headers={"API-Key": "test-api-key-0123456789"})
    links = response.json["_links"]
    for rel, path in (("apiture:enrollments", "/enrollments"),
                      ("apiture:approvedEnrollments", "/approvedEnrollments"),
                      ("apiture:rejectedEnrollments", "/rejectedEnrollments")):
        assert links[rel]["href"] == f"http://localhost/accountApplications{path}"


def test_request_body_is_not_changed_by_creating(user):
    body = enrollment_body()
    before = copy.deepcopy(body)
    create(user, body)
    assert body == before
