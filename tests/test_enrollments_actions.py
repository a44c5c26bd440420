"""approveEnrollment and rejectEnrollment: the institution only, by id or URI."""

from __future__ import annotations

import pytest
from enrollment_support import complete_requirements, create


@pytest.fixture
def enrollment(user):
    return create(user)


def test_users_cannot_reject_their_enrollment(user, enrollment):
    response = user.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}")
    assert response.status_code == 403
    assert response.json["_error"]["type"] == "forbidden"


def test_users_cannot_approve_even_a_complete_enrollment(user, admin, enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    response = user.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    assert response.status_code == 403


def test_users_see_no_approve_or_reject_link(user, admin, enrollment):
    response = complete_requirements(user, admin, enrollment.headers["Location"])
    links = user.get(enrollment.headers["Location"]).json["_links"]
    assert response.status_code == 200
    assert "apiture:approve" not in links and "apiture:reject" not in links


def test_institution_rejects_by_uri(admin, enrollment):
    response = admin.post(f"/rejectedEnrollments?enrollment={enrollment.headers['Location']}")
    assert response.status_code == 200, response.json
    assert response.json["state"] == "rejected"
    assert response.json["workflowState"] == "canceled"
    assert response.headers["ETag"] != enrollment.headers["ETag"]


def test_rejecting_again_is_a_no_op(admin, enrollment):
    first = admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}")
    again = admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}")
    assert again.status_code == 200
    assert again.headers["ETag"] == first.headers["ETag"]


def test_a_rejected_enrollment_cannot_be_approved(user, admin, enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}")
    response = admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    assert response.status_code == 409
    assert response.json["_error"]["type"] == "invalidStateTransition"


def test_an_approved_enrollment_cannot_be_rejected(user, admin, enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    assert admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}"
                      ).status_code == 200
    response = admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}")
    assert response.status_code == 409


def test_stale_if_match_on_an_action_is_412(admin, enrollment):
    response = admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}",
                          headers={"If-Match": '"99.00000000"'})
    assert response.status_code == 412
    assert admin.get(enrollment.headers["Location"]).json["state"] == "running"


def test_current_if_match_on_an_action_is_accepted(admin, enrollment):
    response = admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}",
                          headers={"If-Match": enrollment.headers["ETag"]})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["", "no-such-enrollment", "https://x/accountApplications/applications/abc",
                                   "not an id!"])
def test_an_action_naming_no_enrollment_is_400(admin, value):
    response = admin.post(f"/rejectedEnrollments?enrollment={value}")
    assert response.status_code == 400
    assert response.json["_error"]["statusCode"] == 400


def test_the_action_reason_is_kept_in_the_audit_trail(admin, enrollment):
    admin.post(f"/rejectedEnrollments?enrollment={enrollment.json['_id']}",
               json={"reason": "Could not verify the address."})
    trail = admin.get(enrollment.json["_links"]["self"]["href"] + "/auditRecords").json
    assert trail["_embedded"]["items"][-1]["reason"] == "Could not verify the address."
