"""Events: exactly one for every change, written in the change's transaction (the outbox)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import FUNDING, headers_for
from enrollment_support import VERIFIED_IDENTITY, create, enrollment_body
from events_support import all_events, types
from workflow_support import (
    PERSONAL_CHECKING,
    complete_personal,
    document,
    fetch,
    href,
    patch,
    review,
    verify,
)

from accountapps.domain import applications, cas, enrollments, events
from accountapps.storage import db
from accountapps.storage.models import Application, Event, utcnow


def unmasked(tag: str) -> str:
    """The full view's ETag of the same revision (events carry that one)."""
    return tag.removesuffix('m"') + '"' if tag.endswith('m"') else tag


def test_creating_an_application_records_one_created_event(user, admin, application):
    [event] = all_events(admin)
    assert event["type"] == "application.created"
    assert event["resource"]["_id"] == application.json["_id"]
    assert event["resource"]["etag"] == unmasked(application.headers["ETag"])
    assert event["userId"] == "user-1"


def test_an_event_names_its_resource_by_id_path_uri_and_etag(user, admin, application):
    [event] = all_events(admin)
    resource = event["resource"]
    assert resource["type"] == "application"
    assert resource["path"] == f"/applications/{application.json['_id']}"
    assert resource["href"] == application.json["_links"]["self"]["href"]
    assert event["_links"]["apiture:resource"]["href"] == resource["href"]
    assert resource["revision"] == 1


def test_an_event_carries_the_state_and_names_but_no_personal_data(user, admin, create_body):
    body = create_body(**FUNDING, organization={
        "name": "Snowqueen LLC", "type": "llc", "taxId": "112223333"})
    assert user.post("/applications", body).status_code == 201
    [event] = all_events(admin)
    assert event["summary"]["state"] == "running"
    assert event["summary"]["accountName"] == "My checking account"
    assert event["summary"]["organizationName"] == "Snowqueen LLC"
    text = json.dumps(event)
    assert "112223333" not in text and "3333" not in text
    assert "9876543210" not in text and "021000021" not in text


def test_a_patch_records_one_updated_event_with_the_new_etag(user, admin, application):
    changed = patch(user, application, {"accountName": "Rainy day"})
    assert types(admin) == ["application.created", "application.updated"]
    event = all_events(admin)[-1]
    assert event["resource"]["etag"] == unmasked(changed.headers["ETag"])
    assert event["summary"]["accountName"] == "Rainy day"


def test_a_patch_that_changes_nothing_records_no_event(user, admin, application):
    unchanged = patch(user, application, {"accountName": "My checking account"})
    assert unchanged.headers["ETag"] == application.headers["ETag"]
    assert types(admin) == ["application.created"]


def test_a_stale_if_match_records_no_event(user, admin, application):
    patch(user, application, {"accountName": "First"})
    stale = patch(user, application, {"accountName": "Second"})
    assert stale.status_code == 412
    assert types(admin) == ["application.created", "application.updated"]


def test_an_action_records_its_state_change_with_actor_and_reason(user, admin, application):
    canceled = user.post(href(application.json, "apiture:cancel"),
                         json={"reason": "Changed my mind."})
    event = all_events(admin)[-1]
    assert event["type"] == "application.canceled"
    assert event["summary"]["state"] == "canceled"
    assert event["summary"]["previousState"] == "running"
    assert event["reason"] == "Changed my mind."
    assert event["userId"] == "user-1"
    assert event["resource"]["etag"] == unmasked(canceled.headers["ETag"])


def test_asking_for_the_current_state_records_no_event(user, admin, application):
    user.post(href(application.json, "apiture:cancel"))
    again = user.post(f"/canceledApplications?application={application.json['_id']}")
    assert again.status_code == 200
    assert types(admin) == ["application.created", "application.canceled"]


def test_a_refused_transition_records_no_event(user, admin, application):
    user.post(href(application.json, "apiture:cancel"))
    refused = admin.post(f"/approvedApplications?application={application.json['_id']}")
    assert refused.status_code == 409
    assert types(admin) == ["application.created", "application.canceled"]


def test_the_workflow_blocks_and_unblocks_with_events_of_the_service(user, admin):
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    assert created.json["state"] == "blocked", created.json
    rejected = review(admin, created, created.json["documents"][0]["_id"], "rejected",
                      "Unreadable scan.")
    assert rejected.json["state"] == "running"
    seen = all_events(admin)
    assert [e["type"] for e in seen] == [
        "application.created", "application.blocked", "application.documentReviewed",
        "application.started"]
    assert seen[1]["userId"] is None and seen[3]["userId"] is None
    assert seen[2]["userId"] == "admin-1"


def test_an_identity_verification_records_its_own_event(user, admin):
    created = user.post("/applications", complete_personal())
    verify(admin, created, created.json["applicants"][0]["_id"], "failed", "No match.")
    assert types(admin)[:3] == ["application.created", "application.blocked",
                                "application.identityVerificationRecorded"]


def test_approval_records_one_approved_event(user, admin, approvable):
    admin.post(href(fetch(admin, approvable).json, "apiture:approve"))
    seen = all_events(admin)
    assert seen[-1]["type"] == "application.approved"
    assert seen[-1]["summary"]["state"] == "approved"
    assert [e["type"] for e in seen].count("application.approved") == 1


def test_expiry_on_access_records_one_expired_event_by_the_service(user, admin, application):
    Application.update(active_at=utcnow() - timedelta(days=31)).execute()
    assert user.get(href(application.json, "self")).json["state"] == "expired"
    assert user.get(href(application.json, "self")).json["state"] == "expired"
    seen = all_events(admin)
    assert [e["type"] for e in seen] == ["application.created", "application.expired"]
    assert seen[-1]["userId"] is None


def test_deleting_an_expired_application_records_a_deleted_event(user, admin, application):
    expired = admin.post(href(fetch(admin, application).json, "apiture:expire"))
    admin.delete(href(expired.json, "self"), headers={"If-Match": expired.headers["ETag"]})
    seen = all_events(admin)
    assert [e["type"] for e in seen] == [
        "application.created", "application.expired", "application.deleted"]
    assert seen[-1]["resource"]["etag"] is None and seen[-1]["resource"]["revision"] is None
    assert "apiture:resource" not in seen[-1]["_links"]


def test_every_enrollment_change_records_one_event(client, user, admin):
    created = create(user)
    link = href(created.json, "self")
    verified = admin.patch(link, VERIFIED_IDENTITY, headers={"If-Match": created.headers["ETag"]})
    flagged = admin.patch(link, {"flaggedForReview": True},
                          headers={"If-Match": verified.headers["ETag"]})
    updated = user.patch(link, {"applicant": {"username": "elsa-2"}},
                         headers={"If-Match": flagged.headers["ETag"]})
    assert updated.status_code == 200, updated.json
    admin.post(f"/rejectedEnrollments?enrollment={created.json['_id']}")
    assert admin.delete(link).status_code == 204  # in every state (deleteEnrollment)
    assert types(admin) == [
        "enrollment.created", "enrollment.identityVerificationRecorded",
        "enrollment.flaggedForReview", "enrollment.updated", "enrollment.rejected",
        "enrollment.deleted"]
    assert types(admin, type="enrollment.*") == types(admin)


def test_deleting_an_enrollment_records_a_deleted_event(user, admin):
    created = create(user, enrollment_body())
    user.delete(href(created.json, "self"))
    assert types(admin) == ["enrollment.created", "enrollment.deleted"]


def test_enrollment_expiry_records_an_expired_event(user, admin):
    created = create(user)
    enrollment = enrollments.KIND.model
    enrollment.update(active_at=utcnow() - timedelta(days=31)).execute()
    assert user.get(href(created.json, "self")).json["state"] == "expired"
    assert types(admin) == ["enrollment.created", "enrollment.expired"]


def test_a_change_rolled_back_leaves_no_event(app, user, admin, application):
    row = Application.get_by_id(application.json["_id"])

    def fail() -> None:
        raise RuntimeError("the transaction fails after the write")

    event = applications.KIND.event({**row.__data__, "revision": 2}, "updated", None, None,
                                    utcnow())
    with app.app_context(), db.database.connection_context(), pytest.raises(RuntimeError):
        cas.write(Application, row, {"revision": 2, "account_name": "Never"}, then=fail,
                  event=event)
    assert types(admin) == ["application.created"]
    assert Application.get_by_id(row.id).revision == 1


def test_a_lost_compare_and_set_writes_no_event(app, admin, application):
    row = Application.get_by_id(application.json["_id"])
    stale = Application(**{**row.__data__, "revision": 7})
    event = applications.KIND.event({**row.__data__, "revision": 8}, "updated", None, None,
                                    utcnow())
    with app.app_context(), db.database.connection_context():
        assert not cas.write(Application, stale, {"revision": 8}, event=event)
    assert Event.select().count() == 1


def test_every_documented_type_has_a_description():
    for change in {t.split(".", 1)[1] for t in events.ALL_TYPES}:
        assert events.DESCRIPTIONS[change]


def test_the_event_paths_are_those_of_the_resources():
    assert {kind.name: kind.path for kind in (
        applications.KIND, enrollments.KIND)} == events.RESOURCE_PATHS


def test_every_transition_target_has_an_event_type():
    from accountapps.domain import lifecycle

    targets = {target for targets in lifecycle.TRANSITIONS.values() for target in targets}
    targets |= {t for ts in lifecycle.SERVICE_TRANSITIONS.values() for t in ts}
    assert targets <= set(events.TRANSITION_TYPES)


def test_an_other_users_events_are_in_the_institutions_feed(client, user, admin, application):
    from conftest import USER_SCOPES, Api

    other = Api(client, headers_for("user-9", USER_SCOPES))
    other.post("/applications", complete_personal())
    assert {e["userId"] for e in all_events(admin)} == {"user-1", "user-9", None}
