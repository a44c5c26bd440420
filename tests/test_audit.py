"""The audit trail: every state change with when, who, client, from, to and why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import API_KEY, REFERENCE_CREATE_BODY, USER_SCOPES, Api, headers_for, token
from db_helpers import audit_records, force_state
from peewee import DatabaseError

from accountapps.storage.db import database
from accountapps.storage.models import utcnow

SECOND_KEY = "second-client-key-0123456789"


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_API_KEYS": f"{API_KEY},{SECOND_KEY}"}


def trail(app, application) -> list:
    return audit_records(app, application.json["_id"])


def test_creation_is_recorded(app, application):
    [record] = trail(app, application)
    assert (record.from_state, record.to_state) == (None, "running")
    assert record.user_id == "user-1"
    assert record.client_id
    assert record.reason
    assert utcnow() - record.occurred_at < timedelta(minutes=1)


@pytest.mark.parametrize("target, path", [
    ("approved", "/approvedApplications"), ("rejected", "/rejectedApplications"),
    ("expired", "/expiredApplications"), ("canceled", "/canceledApplications"),
])
def test_each_transition_is_recorded_with_who_from_to(app, admin, approvable, target, path):
    assert admin.post(f"{path}?application={approvable.json['_id']}").status_code == 200
    record = trail(app, approvable)[-1]
    assert (record.from_state, record.to_state) == ("running", target)
    assert record.user_id == "admin-1"


def test_start_from_blocked_is_recorded(app, admin, application):
    force_state(app, application.json["_id"], "blocked")
    admin.post(f"/runningApplications?application={application.json['_id']}")
    record = trail(app, application)[-1]
    assert (record.from_state, record.to_state) == ("blocked", "running")


def test_the_reason_given_is_recorded(app, admin, application):
    admin.post(f"/rejectedApplications?application={application.json['_id']}",
               json={"reason": "Funding source could not be verified."})
    assert trail(app, application)[-1].reason == "Funding source could not be verified."


def test_the_client_application_is_recorded(app, client, application):
    via_second = Api(client, {"API-Key": SECOND_KEY,
                              "Authorization": f"Bearer {token('user-1', USER_SCOPES)}"})
    via_second.post(f"/canceledApplications?application={application.json['_id']}")
    created, canceled = trail(app, application)
    assert created.client_id and canceled.client_id
    assert created.client_id != canceled.client_id


def test_updates_that_do_not_change_state_are_not_recorded(app, user, application):
    user.patch(application.headers["Location"], {"accountName": "x"},
               headers={"If-Match": application.headers["ETag"]})
    assert len(trail(app, application)) == 1


def test_records_outlive_a_deleted_application(app, admin, application):
    app_id = application.json["_id"]
    admin.post(f"/expiredApplications?application={app_id}")
    assert admin.delete(f"/applications/{app_id}", headers={"If-Match": "*"}).status_code == 204
    assert [r.to_state for r in audit_records(app, app_id)] == ["running", "expired", "deleted"]


def test_a_deletion_is_recorded_with_who_deleted(app, admin, application):
    app_id = application.json["_id"]
    admin.post(f"/expiredApplications?application={app_id}")
    admin.delete(f"/applications/{app_id}", headers={"If-Match": "*"})
    record = audit_records(app, app_id)[-1]
    assert (record.from_state, record.to_state, record.user_id) == ("expired", "deleted",
                                                                     "admin-1")


def test_an_applicant_deleting_a_pending_application_is_recorded(app, user, application):
    app_id = application.json["_id"]
    force_state(app, app_id, "pending")
    assert user.delete(f"/applications/{app_id}", headers={"If-Match": "*"}).status_code == 204
    record = audit_records(app, app_id)[-1]
    assert (record.from_state, record.to_state, record.user_id) == ("pending", "deleted",
                                                                     "user-1")


# --- reaching it over the API ------------------------------------------------

def test_administrator_has_an_audit_trail_link(admin, application):
    links = admin.get(application.headers["Location"]).json["_links"]
    assert links["apiture:auditTrail"]["href"] == (
        f"{application.headers['Location']}/auditRecords")


def test_applicant_has_no_audit_trail_link(user, application):
    assert "apiture:auditTrail" not in user.get(application.headers["Location"]).json["_links"]


def test_administrator_reads_the_trail_by_its_link(admin, approvable):
    app_id = approvable.json["_id"]
    admin.post(f"/approvedApplications?application={app_id}")
    href = admin.get(f"/applications/{app_id}").json["_links"]["apiture:auditTrail"]["href"]
    body = admin.get(href).json
    items = body["_embedded"]["items"]
    # Created complete, the application waited on the institution (blocked) until its
    # identity verification, then was approved.
    assert [(item["from"], item["to"]) for item in items] == [
        (None, "running"), ("running", "blocked"), ("blocked", "running"),
        ("running", "approved")]
    assert items[-1]["userId"] == "admin-1"
    assert items[-1]["clientId"]
    assert items[-1]["occurredAt"].endswith("Z")
    assert body["count"] == 4


def test_admin_read_scope_has_the_audit_trail_link_and_may_follow_it(client):
    auditor = Api(client, headers_for("auditor-1", f"{USER_SCOPES} admin/read"))
    created = auditor.post("/applications", REFERENCE_CREATE_BODY)
    href = auditor.get(created.headers["Location"]).json["_links"]["apiture:auditTrail"]["href"]
    response = auditor.get(href)
    assert response.status_code == 200
    assert [item["to"] for item in response.json["_embedded"]["items"]] == ["running"]


def test_no_audit_trail_link_for_a_token_the_trail_would_refuse(client, application):
    # admin/read is the right to read trails, but the trail's route needs banking/read too.
    writer = Api(client, headers_for("auditor-3", "admin/read banking/write"))
    created = writer.post("/applications", REFERENCE_CREATE_BODY)
    assert created.status_code == 201
    assert "apiture:auditTrail" not in created.json["_links"]
    assert writer.get(f"{created.headers['Location']}/auditRecords").status_code == 403


def test_an_auditor_reads_the_trail_of_any_owners_application(client, application):
    auditor = Api(client, headers_for("auditor-2", "banking/read admin/read"))
    response = auditor.get(f"{application.headers['Location']}/auditRecords")
    assert response.status_code == 200
    assert [item["to"] for item in response.json["_embedded"]["items"]] == ["running"]


def test_an_auditor_still_cannot_read_another_owners_application(client, application):
    auditor = Api(client, headers_for("auditor-2", "banking/read admin/read"))
    assert auditor.get(application.headers["Location"]).status_code == 404


def test_applicant_cannot_read_the_trail(user, application):
    response = user.get(f"{application.headers['Location']}/auditRecords")
    assert response.status_code == 404


def test_trail_of_an_unknown_application_is_404(admin):
    assert admin.get("/applications/nope/auditRecords").status_code == 404


# --- append-only -------------------------------------------------------------

def test_the_database_refuses_to_update_audit_records(app, application):
    with app.app_context(), pytest.raises(DatabaseError, match="append-only"):
        database.execute_sql("UPDATE audit_record SET to_state = 'approved'")
    assert trail(app, application)[0].to_state == "running"


def test_the_database_refuses_to_delete_audit_records(app, application):
    with app.app_context(), pytest.raises(DatabaseError, match="append-only"):
        database.execute_sql("DELETE FROM audit_record")
    assert len(trail(app, application)) == 1


def test_banking_full_without_admin_scope_cannot_read_the_trail(client, application):
    # banking/full alone does not make a caller the institution
    api = Api(client, {"API-Key": API_KEY,
                       "Authorization": f"Bearer {token('user-9', 'banking/full')}"})
    assert api.get(f"{application.headers['Location']}/auditRecords").status_code == 404
