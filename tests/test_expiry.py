"""Expiry: inactive applications in progress become ``expired``, by sweep and on access."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import API_KEY, REFERENCE_CREATE_BODY, SECRET, USER_SCOPES, Api, headers_for
from db_helpers import age, audit_records, force_state, row

from accountapps import create_app
from accountapps.domain.applications import KIND
from accountapps.domain.store import expire_due
from accountapps.storage.db import database
from accountapps.storage.models import utcnow

ROOT = Path(__file__).resolve().parent.parent
OVERDUE = 31  # days; the default period is 30


@pytest.fixture
def overdue(app, application):
    """The id of ``user-1``'s running application, inactive past the expiry period."""
    app_id = application.json["_id"]
    age(app, app_id, OVERDUE)
    return app_id


def sweep(app) -> str:
    result = app.test_cli_runner().invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    return result.output


def expirations(app, app_id: str) -> int:
    return sum(1 for record in audit_records(app, app_id) if record.to_state == "expired")


# --- the sweep ---------------------------------------------------------------

def test_sweep_expires_overdue_applications(app, overdue):
    assert "expired applications: 1" in sweep(app).splitlines()
    assert row(app, overdue).state == "expired"


def test_sweep_records_the_expiry_as_the_service(app, overdue):
    sweep(app)
    record = audit_records(app, overdue)[-1]
    assert (record.from_state, record.to_state) == ("running", "expired")
    assert record.user_id is None
    assert record.reason


def test_sweep_sets_completed_at_and_ends_the_workflow(app, overdue):
    sweep(app)
    stored = row(app, overdue)
    assert stored.completed_at is not None
    assert stored.workflow_state == "canceled"


def test_sweep_is_idempotent(app, overdue):
    sweep(app)
    revision = row(app, overdue).revision
    assert "expired applications: 0" in sweep(app).splitlines()
    assert row(app, overdue).revision == revision
    assert expirations(app, overdue) == 1


def test_sweep_leaves_recent_applications_alone(app, application):
    age(app, application.json["_id"], OVERDUE - 2)
    sweep(app)
    assert row(app, application.json["_id"]).state == "running"


def test_sweep_expires_blocked_applications(app, overdue):
    force_state(app, overdue, "blocked")
    sweep(app)
    assert row(app, overdue).state == "expired"


@pytest.mark.parametrize("state", ["approved", "rejected", "canceled"])
def test_sweep_leaves_completed_applications_alone(app, overdue, state):
    force_state(app, overdue, state)
    sweep(app)
    assert row(app, overdue).state == state


def test_sweep_covers_every_user_in_batches(app, client, make_applications):
    made = make_applications(7)
    for item in made:
        age(app, item["_id"], OVERDUE)
    with app.app_context(), database.connection_context():
        assert expire_due(KIND, batch=3) == 7
    assert {row(app, item["_id"]).state for item in made} == {"expired"}


def test_two_concurrent_sweeps_expire_each_application_once(app, make_applications):
    made = make_applications(40)
    for item in made:
        age(app, item["_id"], OVERDUE)
    start = threading.Barrier(2)
    failures: list[BaseException] = []
    counts: list[int] = []

    def run() -> None:
        try:
            with app.app_context(), database.connection_context():
                start.wait()
                counts.append(expire_due(KIND, batch=5))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sum(counts) == len(made)  # each sweep counts only what it expired itself
    for item in made:
        assert row(app, item["_id"]).state == "expired"
        assert expirations(app, item["_id"]) == 1


@pytest.mark.slow
def test_two_sweep_processes_at_once_expire_each_application_once(app, app_settings,
                                                                   make_applications):
    made = make_applications(150)
    for item in made:
        age(app, item["_id"], OVERDUE)
    env = {**os.environ, "ACCOUNTAPPS_DATABASE_URL": app_settings["ACCOUNTAPPS_DATABASE_URL"],
           "ACCOUNTAPPS_API_KEYS": API_KEY, "ACCOUNTAPPS_JWT_SECRET": SECRET,
           "ACCOUNTAPPS_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "expire"]
    sweeps = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in sweeps]
    assert [process.returncode for process in sweeps] == [0, 0], outputs
    printed = [int(line.rsplit(":", 1)[1]) for out, _err in outputs
               for line in out.splitlines() if line.startswith("expired applications:")]
    assert sum(printed) == len(made), outputs
    for item in made:
        assert row(app, item["_id"]).state == "expired"
        assert expirations(app, item["_id"]) == 1


# --- on access ---------------------------------------------------------------

def test_reading_an_overdue_application_shows_it_expired(user, overdue):
    body = user.get(f"/applications/{overdue}").json
    assert body["state"] == "expired"
    assert body["completedAt"] is not None
    assert "apiture:cancel" not in body["_links"]


def test_expiry_on_access_changes_the_etag(app, user, application):
    app_id = application.json["_id"]
    age(app, app_id, OVERDUE)
    response = user.get(f"/applications/{app_id}",
                        headers={"If-None-Match": application.headers["ETag"]})
    assert response.status_code == 200
    assert response.headers["ETag"] != application.headers["ETag"]


def test_a_conditional_read_of_an_overdue_application_expires_it(app, user, application):
    app_id = application.json["_id"]
    age(app, app_id, OVERDUE)
    user.get(f"/applications/{app_id}", headers={"If-None-Match": application.headers["ETag"]})
    assert row(app, app_id).state == "expired"
    assert expirations(app, app_id) == 1


def test_expiry_on_access_is_recorded_once(app, user, overdue):
    user.get(f"/applications/{overdue}")
    user.get(f"/applications/{overdue}")
    assert expirations(app, overdue) == 1


def test_collection_shows_overdue_applications_expired(user, overdue):
    items = user.get("/applications").json["_embedded"]["items"]
    assert [(item["_id"], item["state"]) for item in items] == [(overdue, "expired")]


def test_running_view_omits_overdue_applications(user, admin, overdue):
    assert user.get("/runningApplications").json["count"] == 0
    assert admin.get("/runningApplications").json["count"] == 0


def test_filter_on_state_sees_overdue_applications_expired(admin, overdue):
    assert admin.get("/applications?filter=eq(state,running)").json["count"] == 0
    assert admin.get("/applications?state=expired").json["count"] == 1


def test_administrator_listing_expires_every_users_overdue_applications(app, admin, overdue):
    admin.get("/applications")
    assert row(app, overdue).state == "expired"


def test_action_on_an_overdue_application_meets_it_expired(admin, overdue):
    response = admin.post(f"/approvedApplications?application={overdue}")
    assert response.status_code == 409
    assert response.json["_error"]["attributes"]["state"] == "expired"


def test_update_of_an_overdue_application_is_409(user, overdue):
    response = user.patch(f"/applications/{overdue}", {"accountName": "late"},
                          headers={"If-Match": "*"})
    assert response.status_code == 409


def test_an_overdue_application_does_not_block_a_new_one(user, overdue, create_body):
    assert user.post("/applications", create_body()).status_code == 201


def test_activity_postpones_expiry(app, user, application):
    app_id = application.json["_id"]
    age(app, app_id, OVERDUE - 1)
    user.patch(f"/applications/{app_id}", {"accountName": "busy"}, headers={"If-Match": "*"})
    assert (utcnow() - row(app, app_id).active_at).total_seconds() < 60


# --- the configured period ---------------------------------------------------

class TestConfiguredPeriod:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_EXPIRY_DAYS": "2.5"}

    def test_not_expired_before_the_period(self, app, user, application):
        age(app, application.json["_id"], 2.4)
        assert user.get(f"/applications/{application.json['_id']}").json["state"] == "running"

    def test_expired_after_the_period(self, app, user, application):
        age(app, application.json["_id"], 2.6)
        assert user.get(f"/applications/{application.json['_id']}").json["state"] == "expired"


class TestShortPeriod:
    """A period of a fraction of a second, as the contract allows fractions."""

    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "ACCOUNTAPPS_EXPIRY_DAYS": str(0.3 / 86400)}

    def test_expires_without_any_change_to_the_database(self, client):
        import time

        api = Api(client, headers_for("quick", USER_SCOPES))
        created = api.post("/applications", REFERENCE_CREATE_BODY)
        time.sleep(0.4)
        assert api.get(created.headers["Location"]).json["state"] == "expired"


@pytest.mark.parametrize("value", ["nan", "inf", "1e9", "999999", "0", "-1"])
def test_an_expiry_period_outside_the_calendar_is_refused_at_start_up(app_settings, value):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_EXPIRY_DAYS"):
        create_app({**app_settings, "ACCOUNTAPPS_EXPIRY_DAYS": value})


@pytest.mark.parametrize("value", ["nan", "-1", "1e9"])
def test_a_token_leeway_outside_its_range_is_refused_at_start_up(app_settings, value):
    with pytest.raises(ValueError, match="ACCOUNTAPPS_JWT_LEEWAY"):
        create_app({**app_settings, "ACCOUNTAPPS_JWT_LEEWAY": value})


def test_a_century_is_the_longest_expiry_period(app_settings):
    assert create_app({**app_settings, "ACCOUNTAPPS_EXPIRY_DAYS": "36500"}).config[
        "ACCOUNTAPPS_EXPIRY_DAYS"] == 36500
