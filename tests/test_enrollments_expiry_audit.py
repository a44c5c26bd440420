"""Enrollments expire like applications and share their audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from enrollment_support import complete_requirements, create, enrollment_body

from accountapps.storage.db import database
from accountapps.storage.models import AuditRecord, Enrollment, utcnow


@pytest.fixture
def enrollment(user):
    return create(user)


def age(app, enrollment_id: str, days: float) -> None:
    """Pretend the enrollment has been inactive for ``days``."""
    with app.app_context(), database.connection_context():
        Enrollment.update(active_at=utcnow() - timedelta(days=days)).where(
            Enrollment.id == enrollment_id).execute()


def test_an_inactive_enrollment_is_expired_on_access(app, user, enrollment):
    age(app, enrollment.json["_id"], 31)
    body = user.get(enrollment.headers["Location"]).json
    assert body["state"] == "expired"
    assert body["workflowState"] == "canceled"
    assert body["completedAt"] is not None


def test_a_conditional_read_of_an_overdue_enrollment_expires_it(app, user, enrollment):
    age(app, enrollment.json["_id"], 31)
    response = user.get(enrollment.headers["Location"],
                        headers={"If-None-Match": enrollment.headers["ETag"]})
    assert response.status_code == 200
    assert response.json["state"] == "expired"


def test_a_recently_active_enrollment_does_not_expire(app, user, enrollment):
    age(app, enrollment.json["_id"], 29)
    assert user.get(enrollment.headers["Location"]).json["state"] == "running"


def test_the_collection_never_shows_an_overdue_enrollment_as_running(app, user, enrollment):
    age(app, enrollment.json["_id"], 31)
    items = user.get("/enrollments").json["_embedded"]["items"]
    assert [item["state"] for item in items] == ["expired"]


def test_an_expired_enrollment_lets_the_user_enroll_again(app, user, enrollment):
    age(app, enrollment.json["_id"], 31)
    user.get(enrollment.headers["Location"])
    assert user.post("/enrollments", enrollment_body()).status_code == 201


def test_an_overdue_enrollment_does_not_block_a_new_one(app, user, enrollment):
    age(app, enrollment.json["_id"], 31)
    # No read first: the POST itself must find the old enrollment expired.
    response = user.post("/enrollments", enrollment_body())
    assert response.status_code == 201, response.json
    assert response.json["_id"] != enrollment.json["_id"]
    with app.app_context(), database.connection_context():
        assert Enrollment.get_by_id(enrollment.json["_id"]).state == "expired"
        expiries = AuditRecord.select().where(
            (AuditRecord.resource_type == "enrollment")
            & (AuditRecord.resource_id == enrollment.json["_id"])
            & (AuditRecord.to_state == "expired")).count()
    assert expiries == 1


def test_a_recent_enrollment_still_blocks_a_new_one(app, user, enrollment):
    age(app, enrollment.json["_id"], 29)
    response = user.post("/enrollments", enrollment_body())
    assert response.status_code == 409
    assert response.json["_error"]["type"] == "enrollmentInProgress"


def test_expire_command_expires_enrollments_and_applications(app, user, enrollment,
                                                            application):
    age(app, enrollment.json["_id"], 31)
    result = app.test_cli_runner().invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert "expired enrollments: 1" in result.output
    assert "expired applications: 0" in result.output
    with app.app_context(), database.connection_context():
        assert Enrollment.get_by_id(enrollment.json["_id"]).state == "expired"


def test_an_expired_enrollment_cannot_be_approved(app, user, admin, enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    age(app, enrollment.json["_id"], 31)
    response = admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    assert response.status_code == 409


def test_administrators_have_an_audit_trail_link(admin, user, enrollment):
    assert "apiture:auditTrail" not in user.get(enrollment.headers["Location"]).json["_links"]
    links = admin.get(enrollment.headers["Location"]).json["_links"]
    assert links["apiture:auditTrail"]["href"].endswith(
        f"/enrollments/{enrollment.json['_id']}/auditRecords")


def test_users_cannot_read_the_audit_trail(user, enrollment):
    response = user.get(f"/enrollments/{enrollment.json['_id']}/auditRecords")
    assert response.status_code == 404


def test_audit_trail_records_who_moved_the_enrollment_from_what_to_what(admin, user,
                                                                       enrollment):
    complete_requirements(user, admin, enrollment.headers["Location"])
    admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    href = admin.get(enrollment.headers["Location"]).json["_links"]["apiture:auditTrail"]["href"]
    items = admin.get(href).json["_embedded"]["items"]
    assert [(i["from"], i["to"], i["userId"]) for i in items] == [
        (None, "running", "user-1"), ("running", "approved", "admin-1")]


def test_expiry_is_audited_as_the_service(app, admin, enrollment):
    age(app, enrollment.json["_id"], 31)
    admin.get(enrollment.headers["Location"])
    items = admin.get(f"/enrollments/{enrollment.json['_id']}/auditRecords").json[
        "_embedded"]["items"]
    assert (items[-1]["from"], items[-1]["to"], items[-1]["userId"]) == (
        "running", "expired", None)


def test_deletion_is_audited_and_the_trail_survives(app, user, enrollment):
    user.delete(enrollment.headers["Location"])
    with app.app_context(), database.connection_context():
        records = list(AuditRecord.select().where(
            (AuditRecord.resource_type == "enrollment")
            & (AuditRecord.resource_id == enrollment.json["_id"])).order_by(AuditRecord.id))
    assert [(r.from_state, r.to_state) for r in records] == [
        (None, "running"), ("running", "deleted")]
