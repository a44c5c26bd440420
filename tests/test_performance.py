"""The mechanisms that keep requests cheap (README, "Performance"), and that they change nothing.

Verified tokens are cached per app (bounded, until they expire); a page costs
the same few queries whatever its size; a ``304`` renders nothing; page rows
are light records equal to what peewee would have built.
"""

from __future__ import annotations

import re
import time

import pytest
from conftest import API_KEY, SECRET, USER_SCOPES, Api, headers_for
from db_helpers import sql_sent

from accountapps.auth import security
from accountapps.domain import store
from accountapps.resources import applications as resource
from accountapps.storage.db import database
from accountapps.storage.models import Application
from accountapps.storage.pages import records

ROOT = "/accountApplications/"


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """Every token the app verifies cryptographically (cache misses)."""
    seen: list[str] = []
    verify = security._verify_token

    def counting(token: str):
        seen.append(token)
        return verify(token)

    monkeypatch.setattr(security, "_verify_token", counting)
    return seen


def test_a_token_is_verified_once_for_many_requests(client, user_headers, verifications):
    for _ in range(3):
        assert client.get(f"{ROOT}applications", headers=user_headers).status_code == 200
    assert len(verifications) == 1


def test_an_invalid_token_is_checked_every_time(client, verifications):
    bad = security.mint_token("user-1", USER_SCOPES, secret="another-secret-" + "x" * 32)
    headers = {"API-Key": API_KEY, "Authorization": f"Bearer {bad}"}
    for _ in range(2):
        assert client.get(f"{ROOT}applications", headers=headers).status_code == 401
    assert len(verifications) == 2


def test_a_cached_token_is_refused_once_it_expires(app, client):
    app.config["ACCOUNTAPPS_JWT_LEEWAY"] = 0
    short = security.mint_token("user-1", USER_SCOPES, secret=SECRET, expires_in=1)
    headers = {"API-Key": API_KEY, "Authorization": f"Bearer {short}"}
    assert client.get(f"{ROOT}applications", headers=headers).status_code == 200
    time.sleep(1.2)
    assert client.get(f"{ROOT}applications", headers=headers).status_code == 401


def test_the_token_cache_is_bounded(app, client, monkeypatch):
    monkeypatch.setattr(security, "TOKEN_CACHE_SIZE", 3)
    for index in range(5):
        headers = headers_for(f"user-{index}", USER_SCOPES)
        assert client.get(f"{ROOT}applications", headers=headers).status_code == 200
    assert len(app.extensions["accountapps.verified_tokens"]) == 3


def _statements(client, path: str, headers: dict[str, str]) -> list[str]:
    with sql_sent() as sent:
        assert client.get(path, headers=headers).status_code == 200
    return sent


def test_a_page_costs_the_same_queries_whatever_its_size(client, make_applications,
                                                        admin_headers):
    make_applications(12)
    small = _statements(client, f"{ROOT}applications?limit=2", admin_headers)
    large = _statements(client, f"{ROOT}applications?limit=12", admin_headers)
    # expiry check, count (or the kept count), page: never one per item
    assert len(small) == len(large) <= 4


def test_a_304_renders_nothing(client, user, application, monkeypatch):
    def no_render(*_args, **_kwargs):
        raise AssertionError("a 304 rendered the body")

    monkeypatch.setattr(resource, "render", no_render)
    response = user.get(f"/applications/{application.json['_id']}",
                        headers={"If-None-Match": application.headers["ETag"]})
    assert response.status_code == 304


def test_a_304_reads_only_the_rows_head(client, user, application):
    with sql_sent() as sent:
        response = user.get(f"/applications/{application.json['_id']}",
                            headers={"If-None-Match": application.headers["ETag"]})
    assert response.status_code == 304
    [columns] = [match.group(1) for statement in sent
                 if (match := re.search(r"SELECT (.*?) FROM ", statement))]
    assert sorted(column.split(".")[-1].strip('"`') for column in columns.split(", ")) == \
        sorted(store.HEAD)


def test_page_records_equal_the_models_peewee_builds(app, make_applications, client,
                                                     admin_headers):
    made = make_applications(3)
    Api(client, admin_headers).post(f"/canceledApplications?application={made[0]['_id']}")
    with app.app_context(), database.connection_context():
        query = Application.select(
            Application.id, Application.state, Application.created_at,
            Application.completed_at, Application.revision, Application.document,
        ).order_by(Application.id)
        fields = ("id", "state", "created_at", "completed_at", "revision", "document")
        expected = [tuple(getattr(row, name) for name in fields) for row in query.clone()]
        assert [tuple(getattr(r, name) for name in fields) for r in records(query)] == expected
    assert any(row[3] is not None for row in expected)  # a completion date was converted


@pytest.fixture
def kept_count(app) -> None:
    """The application counter as migration m0009 installs it.

    (A test harness that empties tables with TRUNCATE empties the counter too:
    TRUNCATE fires no row triggers. Installing again recounts.)
    """
    from accountapps.storage import row_counts

    with app.app_context(), database.connection_context():
        row_counts.install(database, "application")


def test_an_unfiltered_page_reads_the_kept_count_instead_of_counting(client, make_applications,
                                                                       admin_headers, kept_count):
    make_applications(3)
    statements = _statements(client, f"{ROOT}applications", admin_headers)
    assert not [sql for sql in statements if "COUNT(" in sql.upper()]
    assert client.get(f"{ROOT}applications", headers=admin_headers).json["count"] == 3


def test_the_kept_count_follows_creates_and_deletes(client, make_applications, admin_headers,
                                                    kept_count):
    made = make_applications(3)
    admin = Api(client, admin_headers)
    expired = admin.post(f"/expiredApplications?application={made[0]['_id']}")
    assert admin.delete(f"/applications/{made[0]['_id']}",
                        headers={"If-Match": expired.headers["ETag"]}).status_code == 204
    whole = admin.get("/applications").json["count"]
    counted = admin.get("/applications?state=running%7Cexpired").json["count"]
    assert whole == counted == 2


def test_the_migration_recounts_a_wrong_count(app, make_applications):
    from accountapps.storage import row_counts

    make_applications(2)
    with app.app_context(), database.connection_context():
        row_counts.RowCount.update(rows=99).execute()
        row_counts.install(database, "application")
        assert row_counts.total("application") == 2


def _kept_and_counted(app) -> tuple[dict[str, int], dict[str, int]]:
    """Per state: the kept counter and a real ``COUNT``."""
    from accountapps.storage import row_counts

    states = ("pending", "running", "blocked", "approved", "rejected", "canceled", "expired")
    with app.app_context(), database.connection_context():
        kept = {state: row_counts.in_states("application", [state]) for state in states}
        counted = {state: Application.select().where(Application.state == state).count()
                   for state in states}
    return kept, counted


def test_a_work_queue_page_reads_the_kept_state_counts_instead_of_counting(
        client, make_applications, admin_headers, kept_count):
    made = make_applications(3)
    admin = Api(client, admin_headers)
    admin.post(f"/canceledApplications?application={made[0]['_id']}")
    for path in ("applications?filter=eq(state,running)", "applications?state=running",
                 "applications?state=running%7Ccanceled&filter=in(state,running,approved)"):
        statements = _statements(client, f"{ROOT}{path}", admin_headers)
        assert not [sql for sql in statements if "COUNT(" in sql.upper()], path
        assert client.get(f"{ROOT}{path}", headers=admin_headers).json["count"] == 2, path


def test_a_page_filtered_on_more_than_the_state_still_counts(client, make_applications,
                                                             admin_headers, kept_count):
    make_applications(3)
    path = f"{ROOT}applications?state=running&filter=eq(accountName,none)"
    statements = _statements(client, path, admin_headers)
    assert [sql for sql in statements if "COUNT(" in sql.upper()]
    assert client.get(path, headers=admin_headers).json["count"] == 0


def test_an_owners_state_filtered_page_counts_only_their_own(client, make_applications,
                                                            kept_count):
    make_applications(3)
    owner = headers_for("bulk-1", USER_SCOPES)
    page = client.get(f"{ROOT}applications?state=running", headers=owner).json
    assert page["count"] == 1


def test_the_state_counts_follow_every_change_of_state(app, client, make_applications,
                                                       admin_headers, kept_count):
    made = make_applications(4)
    admin = Api(client, admin_headers)
    admin.post(f"/canceledApplications?application={made[0]['_id']}")
    expired = admin.post(f"/expiredApplications?application={made[1]['_id']}")
    admin.delete(f"/applications/{made[1]['_id']}", headers={"If-Match": expired.headers["ETag"]})
    kept, counted = _kept_and_counted(app)
    assert kept == counted
    assert counted["running"] == 2 and counted["canceled"] == 1 and counted["expired"] == 0


def test_the_state_counts_stay_exact_under_concurrent_writers(app, create_body, kept_count):
    from concurrent.futures import ThreadPoolExecutor

    def journey(index: int) -> list[int]:
        api = Api(app.test_client(), headers_for(f"racer-{index}", USER_SCOPES))
        first = api.post("/applications", create_body())
        cancel = api.post(f"/canceledApplications?application={first.json['_id']}")
        second = api.post("/applications", create_body())
        return [first.status_code, cancel.status_code, second.status_code]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(journey, range(18)))
    assert all(codes == [201, 200, 201] for codes in statuses), statuses  # no deadlock
    kept, counted = _kept_and_counted(app)
    assert kept == counted
    assert counted["running"] == counted["canceled"] == 18


def test_the_migration_recounts_wrong_state_counts(app, make_applications):
    from accountapps.storage import row_counts

    make_applications(2)
    with app.app_context(), database.connection_context():
        row_counts.RowCount.update(rows=99).execute()
        row_counts.install(database, "application")
    kept, counted = _kept_and_counted(app)
    assert kept == counted and counted["running"] == 2


def test_without_state_counters_a_work_queue_page_counts(app, client, make_applications,
                                                         admin_headers, kept_count):
    from accountapps.storage import row_counts

    make_applications(2)
    with app.app_context(), database.connection_context():
        row_counts.RowCount.delete().where(
            row_counts.RowCount.table == "application.states").execute()
    path = f"{ROOT}applications?state=running"
    assert [sql for sql in _statements(client, path, admin_headers) if "COUNT(" in sql.upper()]
    assert client.get(path, headers=admin_headers).json["count"] == 2


def test_a_create_evaluates_its_workflow_once(user, create_body, monkeypatch):
    """The stored workflowState, the settle step and the representation share one evaluation."""
    from accountapps.domain import workflow

    evaluated: list[str] = []
    evaluate = workflow.evaluate

    def counting(doc, state):
        evaluated.append(state)
        return evaluate(doc, state)

    monkeypatch.setattr(workflow, "evaluate", counting)
    response = user.post("/applications", json=create_body())
    assert response.status_code == 201, response.json
    assert evaluated == ["running"]
    assert response.json["tasks"]  # the representation still carries the checklist


def test_a_documented_response_leaves_the_view_unwrapped(app):
    """flask-smorest's response wrappers would only pass each view's Response on."""
    view = app.view_functions["applications.get_application"]
    assert not hasattr(view, "__wrapped__")
    assert {200, 304, 404} <= set(view._apidoc["response"]["responses"])
