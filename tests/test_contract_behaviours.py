"""The reference's last behaviours (issue 21): seeding, approval by waiver, deleting an
enrollment, and the snapshot of what a decision saw. See docs/decisions.md."""

from __future__ import annotations

import json
import os
import re
import threading
from importlib import resources

import pytest
from conftest import API_KEY, SECRET
from enrollment_support import complete_requirements, create
from live_server import request
from openapi_validation import spec_document
from peewee import DatabaseError
from workflow_support import (
    PERSONAL_CHECKING,
    PREMIERE_SAVINGS,
    audit,
    codes,
    complete_personal,
    consents,
    document,
    fetch,
    href,
    money,
    new_application,
    ready_for_approval,
)

from accountapps.auth.security import mint_token
from accountapps.storage import db
from accountapps.storage.migrations import m0015_decision_snapshots
from accountapps.storage.models import AuditRecord

PREMIERE_ID = PREMIERE_SAVINGS.rsplit("/", 1)[1]
ORGANIZATION = {"name": "Arendelle Ice Ltd", "type": "corporation", "taxId": "12-3456789"}


def _waiting_on_the_institution(user):
    """A blocked application: its applicant is done; an identity verification and a
    document review remain, both the institution's."""
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    assert created.status_code == 201, created.json
    assert created.json["state"] == "blocked", created.json
    return created


def _decision(trail: list[dict], to: str) -> dict:
    (record,) = [item for item in trail if item["to"] == to]
    return record


def _flag(admin, href_: str, flagged: bool):
    seen = admin.get(href_)
    response = admin.patch(href_, {"flaggedForReview": flagged},
                           headers={"If-Match": seen.headers["ETag"]})
    assert response.status_code == 200, response.json
    return response


# --- seeding --------------------------------------------------------------------------

def test_the_institution_seeds_a_pre_approved_application(admin):
    body = new_application(PREMIERE_SAVINGS, state="approved")
    seeded = admin.post("/applications", body)
    assert seeded.status_code == 201, seeded.json
    app = seeded.json
    assert app["state"] == "approved"
    assert app["workflowState"] == "completed"
    assert app["completedAt"] is not None
    assert app["accountApproval"]["state"] == "approved" and app["accountApproval"]["done"]
    assert app["blockers"] == [] and app["nextAction"] is None
    assert {task["state"] for task in app["tasks"]} == {"done"}
    assert not {"apiture:approve", "apiture:reject", "apiture:cancel"} & set(app["_links"])
    (record,) = audit(admin, seeded)
    assert (record["from"], record["to"], record["userId"]) == (None, "approved", "admin-1")
    assert record["reason"].startswith("Application seeded as approved by admin-1")
    assert record["snapshot"]["product"]["_id"] == PREMIERE_ID
    assert {w["waivedBy"] for w in record["waived"]} == {"admin-1"}


def test_the_institution_seeds_a_rejected_application(admin):
    seeded = admin.post("/applications", complete_personal(state="rejected"))
    assert seeded.status_code == 201, seeded.json
    assert seeded.json["state"] == "rejected"
    assert seeded.json["workflowState"] == "canceled"
    assert seeded.json["accountApproval"]["state"] == "rejected"
    assert seeded.json["completedAt"] is not None
    (record,) = audit(admin, seeded)
    assert record["to"] == "rejected" and "seeded as rejected by admin-1" in record["reason"]
    assert "waived" not in record


def test_an_applicants_state_in_a_create_body_is_ignored(user, admin):
    created = user.post("/applications", complete_personal(state="approved"))
    assert created.status_code == 201, created.json
    assert created.json["state"] in ("running", "blocked")
    assert created.json["completedAt"] is None
    assert audit(admin, created)[0]["reason"] == "Application created."


def test_seeding_a_state_no_application_starts_in_is_400(admin):
    response = admin.post("/applications", complete_personal(state="blocked"))
    assert response.status_code == 400
    (error,) = response.json["_error"]["_embedded"]["errors"]
    assert error["type"] == "invalidSeedState" and error["attributes"]["name"] == "state"


# --- blocked -> approved ------------------------------------------------------------------

def test_approving_a_blocked_application_waives_the_institutions_remaining_tasks(user, admin):
    created = _waiting_on_the_institution(user)
    seen = fetch(admin, created)
    assert set(codes(seen.json)) == {"identityVerificationPending", "documentReviewPending"}
    approved = admin.post(href(seen.json, "apiture:approve"))
    assert approved.status_code == 200, approved.json
    assert approved.json["state"] == "approved"
    assert approved.json["workflowState"] == "completed"
    waived_tasks = [t for t in approved.json["tasks"] if "waivedBy" in t]
    assert {t["type"] for t in waived_tasks} == {"identityVerification", "documentReview"}
    assert {t["waivedBy"] for t in waived_tasks} == {"admin-1"}
    record = _decision(audit(admin, created), "approved")
    assert record["from"] == "blocked" and record["userId"] == "admin-1"
    assert sorted(w["code"] for w in record["waived"]) == [
        "documentReviewPending", "identityVerificationPending"]
    assert {w["waivedBy"] for w in record["waived"]} == {"admin-1"}
    assert "Waived by admin-1" in record["reason"]


def test_the_applicant_sees_no_approve_link_on_a_blocked_application(user, admin):
    created = _waiting_on_the_institution(user)
    assert "apiture:approve" not in fetch(user, created).json["_links"]
    assert "apiture:approve" in fetch(admin, created).json["_links"]


def test_approving_with_applicant_blockers_is_still_409_listing_only_them(user, admin):
    # Consents missing (the applicant's), identity not verified (the institution's).
    created = user.post("/applications", complete_personal(consents=consents("privacyPolicy")))
    assert created.json["state"] == "running"
    seen = fetch(admin, created)
    assert "apiture:approve" not in seen.json["_links"]
    refused = admin.post(f"/approvedApplications?application={seen.json['_id']}")
    assert refused.status_code == 409, refused.json
    assert refused.json["_error"]["type"] == "approvalBlocked"
    listed = refused.json["_error"]["attributes"]["blockers"]
    assert listed and {b["actor"] for b in listed} == {"applicant"}
    assert fetch(admin, created).json["state"] == "running"


def _at_once(*calls):
    """Run each call on its own thread, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.slow
def test_approve_by_waiver_and_cancel_at_once_exactly_one_wins(gunicorn_server):
    server = gunicorn_server(workers=2, threads=2)

    def auth(sub: str, scopes: str) -> dict[str, str]:
        return {"API-Key": API_KEY,
                "Authorization": f"Bearer {mint_token(sub, scopes, secret=SECRET)}"}

    def post(path: str, headers: dict[str, str]):
        return lambda: request(server.url, "POST", path, headers=headers)

    officer = auth("officer", "banking/full admin/full")
    for index in range(4):
        owner = auth(f"racer-{index}", "banking/read banking/write banking/delete")
        created = request(server.url, "POST", "/applications", headers=owner,
                          json_body=complete_personal(PERSONAL_CHECKING,
                                                      documents=[document("governmentId")]))
        assert created.status == 201 and created.body["state"] == "blocked", created.body
        app_id = created.body["_id"]
        approve, cancel = _at_once(post(f"/approvedApplications?application={app_id}", officer),
                                   post(f"/canceledApplications?application={app_id}", owner))
        assert sorted([approve.status, cancel.status]) == [200, 409], (approve.body, cancel.body)
        winner = "approved" if approve.status == 200 else "canceled"
        final = request(server.url, "GET", f"/applications/{app_id}", headers=officer).body
        assert final["state"] == winner
        trail = request(server.url, "GET", f"/applications/{app_id}/auditRecords",
                        headers=officer).body["_embedded"]["items"]
        assert [r["to"] for r in trail if r["to"] in ("approved", "canceled")] == [winner]


# --- deleteEnrollment ------------------------------------------------------------------

@pytest.mark.parametrize("state", ["running", "approved", "rejected"])
def test_deleting_an_enrollment_is_204_for_its_owner_in_every_state(user, admin, state):
    enrollment = create(user)
    location = enrollment.headers["Location"]
    if state == "approved":
        complete_requirements(user, admin, location)
    if state != "running":
        action = {"approved": "/approvedEnrollments", "rejected": "/rejectedEnrollments"}[state]
        moved = admin.post(f"{action}?enrollment={enrollment.json['_id']}")
        assert moved.json["state"] == state, moved.json
    assert user.delete(location).status_code == 204
    assert user.get(location).status_code == 404


def test_an_administrator_deletes_an_approved_enrollment(user, admin):
    enrollment = create(user)
    complete_requirements(user, admin, enrollment.headers["Location"])
    admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    assert admin.delete(enrollment.headers["Location"]).status_code == 204


def test_a_deleted_enrollments_audit_trail_stays_readable_by_auditors(user, admin, auditor):
    enrollment = create(user)
    trail = f"{enrollment.headers['Location']}/auditRecords"
    assert user.delete(enrollment.headers["Location"]).status_code == 204
    for reader in (admin, auditor):
        response = reader.get(trail)
        assert response.status_code == 200, response.json
        items = response.json["_embedded"]["items"]
        assert [(r["from"], r["to"]) for r in items] == [(None, "running"),
                                                         ("running", "deleted")]
        assert items[-1]["userId"] == "user-1"
    assert user.get(trail).status_code == 404  # the owner does not read trails
    assert admin.get("/enrollments/never-was/auditRecords").status_code == 404


def test_a_user_flagged_for_review_stays_flagged_on_the_next_enrollment(user, admin):
    first = create(user)
    _flag(admin, first.headers["Location"], True)
    assert user.delete(first.headers["Location"]).status_code == 204
    second = create(user)
    assert second.json["flaggedForReview"] is True
    created = admin.get(f"{second.headers['Location']}/auditRecords").json
    assert first.json["_id"] in created["_embedded"]["items"][0]["reason"]


def test_a_flag_the_institution_cleared_is_not_carried(user, admin):
    first = create(user)
    _flag(admin, first.headers["Location"], True)
    user.delete(first.headers["Location"])
    second = create(user)
    _flag(admin, second.headers["Location"], False)
    assert user.delete(second.headers["Location"]).status_code == 204
    assert create(user).json["flaggedForReview"] is False


def test_a_retained_flagged_enrollment_flags_the_next_one(user, admin):
    first = create(user)
    _flag(admin, first.headers["Location"], True)
    admin.post(f"/rejectedEnrollments?enrollment={first.json['_id']}")
    assert create(user).json["flaggedForReview"] is True


def test_another_users_flag_is_not_carried(user, other, admin):
    flagged = create(other)
    _flag(admin, flagged.headers["Location"], True)
    other.delete(flagged.headers["Location"])
    assert create(user).json["flaggedForReview"] is False


# --- snapshots as reviewed -----------------------------------------------------------------

def test_an_approval_records_what_it_saw(user, admin):
    ready = ready_for_approval(user, admin)
    approved = admin.post(href(fetch(admin, ready).json, "apiture:approve"))
    assert approved.status_code == 200, approved.json
    snapshot = _decision(audit(admin, ready), "approved")["snapshot"]
    assert snapshot["product"] == {"_id": PREMIERE_ID, "name": "Premiere Savings",
                                   "workflow": {"_id": snapshot["product"]["workflow"]["_id"],
                                                "version": 1}}
    assert snapshot["state"] == "running" and snapshot["blockers"] == []
    assert snapshot["fundingAmount"] == money("1500.00")
    assert snapshot["fundingAccount"]["accountNumbers"]["full"] == "9876543210"
    (applicant,) = snapshot["applicants"]
    assert applicant["contact"]["lastName"] == "Snowqueen"
    assert applicant["identityVerification"]["result"] == "verified"
    assert applicant["identityVerification"]["userId"] == "admin-1"
    assert {c["type"] for c in snapshot["consents"]} == {
        "productTermsAndConditions", "electronicConsent", "privacyPolicy"}
    assert snapshot["documents"] == []


def test_a_rejection_records_what_it_saw_with_its_blockers(user, admin):
    created = _waiting_on_the_institution(user)
    admin.post(f"/rejectedApplications?application={created.json['_id']}",
               json={"reason": "Declined."})
    record = _decision(audit(admin, created), "rejected")
    assert record["reason"] == "Declined."
    snapshot = record["snapshot"]
    assert snapshot["state"] == "blocked"
    (doc,) = snapshot["documents"]
    assert (doc["type"], doc["state"]) == ("governmentId", "pending")
    assert snapshot["applicants"][0]["identityVerification"] == {"result": "pending"}
    assert {b["code"] for b in snapshot["blockers"]} == {
        "identityVerificationPending", "documentReviewPending"}


def test_a_snapshot_masks_personal_data_for_a_reader_without_read_pii(user, admin, auditor):
    created = user.post("/applications", complete_personal(organization=ORGANIZATION))
    admin.post(f"/rejectedApplications?application={created.json['_id']}")
    trail = f"/applications/{created.json['_id']}/auditRecords"
    full = _decision(admin.get(trail).json["_embedded"]["items"], "rejected")["snapshot"]
    masked = _decision(auditor.get(trail).json["_embedded"]["items"], "rejected")["snapshot"]
    assert full["fundingAccount"]["accountNumbers"]["full"] == "9876543210"
    assert full["organization"]["taxId"] == "12-3456789"
    assert masked["fundingAccount"]["accountNumbers"]["full"] == "******3210"
    assert masked["organization"]["taxId"] == "******6789"
    assert "9876543210" not in json.dumps(masked) and "12-3456789" not in json.dumps(masked)


@pytest.fixture
def catalog_file(app, tmp_path):
    """The shipped catalog as the institution's own file (``ACCOUNTAPPS_CATALOG_FILE``)."""
    path = tmp_path / "products.json"
    path.write_text(resources.files("accountapps.domain").joinpath(
        "data/products.json").read_text())
    app.config["ACCOUNTAPPS_CATALOG_FILE"] = str(path)
    return path


def test_a_snapshot_is_unchanged_by_later_catalog_changes(user, admin, catalog_file):
    ready = ready_for_approval(user, admin)
    admin.post(href(fetch(admin, ready).json, "apiture:approve"))
    before = _decision(audit(admin, ready), "approved")
    catalog = json.loads(catalog_file.read_text())
    product = next(p for p in catalog["products"] if p["_id"] == PREMIERE_ID)
    product["name"] = "Premiere Savings Plus"
    product["workflow"]["version"] = 2
    stat = os.stat(catalog_file)
    catalog_file.write_text(json.dumps(catalog))
    os.utime(catalog_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    renamed = user.post("/applications", complete_personal())
    assert renamed.json["productName"] == "Premiere Savings Plus"  # the catalog did change
    assert _decision(audit(admin, ready), "approved") == before


def test_an_enrollment_decision_records_what_it_saw_masked_by_scope(user, admin, auditor):
    enrollment = create(user)
    complete_requirements(user, admin, enrollment.headers["Location"])
    admin.post(f"/approvedEnrollments?enrollment={enrollment.json['_id']}")
    trail = f"{enrollment.headers['Location']}/auditRecords"
    full = _decision(admin.get(trail).json["_embedded"]["items"], "approved")["snapshot"]
    masked = _decision(auditor.get(trail).json["_embedded"]["items"], "approved")["snapshot"]
    assert full["identityVerified"] is True and full["requirements"] == []
    assert {c["type"] for c in full["applicant"]["consents"]} >= {
        "digitalBankingTermsOfUse", "privacyPolicy"}
    assert full["applicant"]["contact"]["identification"][0]["value"] == "111-11-1111"
    assert masked["applicant"]["contact"]["identification"][0]["value"] == "*******1111"
    assert "111-11-1111" not in json.dumps(masked)


def test_a_decision_record_cannot_be_rewritten(app, user, admin):
    ready = ready_for_approval(user, admin)
    admin.post(href(fetch(admin, ready).json, "apiture:approve"))
    with app.app_context(), db.database.connection_context(), pytest.raises(DatabaseError):
        AuditRecord.update(decision={"snapshot": {}}).where(
            AuditRecord.resource_id == ready.json["_id"]).execute()


def test_m0015_upgrades_an_older_database_once(app):
    with app.app_context(), db.database.connection_context():
        db.database.execute_sql('ALTER TABLE "audit_record" DROP COLUMN "decision"')
        db.database.execute_sql('DROP TABLE "review_flag"')
        m0015_decision_snapshots.upgrade(db.database)
        m0015_decision_snapshots.upgrade(db.database)  # idempotent
        assert "decision" in {c.name for c in db.database.get_columns("audit_record")}
        assert db.database.table_exists("review_flag")


@pytest.mark.parametrize("form", [
    "{id}", "/accountApplications/applications/{id}", "{base}/applications/{id}",
    "{base}/applications/{id}/", "{base}/applications/{id}?view=full"])
def test_every_form_the_target_pattern_admits_names_the_application(user, application, form):
    """The document's pattern for ``?application=`` admits only what the service reads as
    an application (an id or its URI): such a target is acted on, never ``400``."""
    app_id = application.json["_id"]
    base = application.json["_links"]["self"]["href"].split("/applications/")[0]
    target = form.format(id=app_id, base=base)
    assert re.fullmatch(_document_pattern(), target)
    response = user.post("/canceledApplications", query_string={"application": target})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("target", ["a b", "/accountApplications/enrollments/x",
                                    "https://h/applications/x", "-x"])
def test_a_target_the_pattern_refuses_is_400(user, target):
    assert re.fullmatch(_document_pattern(), target) is None
    assert user.post("/canceledApplications", query_string={"application": target}
                     ).status_code == 400


def _document_pattern() -> str:
    parameters = spec_document()["paths"]["/canceledApplications"]["post"]["parameters"]
    return next(p for p in parameters if p["name"] == "application")["schema"]["pattern"]
