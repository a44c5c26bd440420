"""The event feed: the institution polls every change in commit order, with a cursor."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import databases
import psycopg2
import pytest
from conftest import API_KEY, REFERENCE_CREATE_BODY, USER_SCOPES, Api, headers_for, token
from events_support import all_events, settle, types
from live_server import request
from workflow_support import href

from accountapps.domain import events
from accountapps.storage import db
from accountapps.storage.models import Event, utcnow

postgres_only = pytest.mark.skipif(databases.BACKEND != "postgresql",
                                   reason="concurrent writers: PostgreSQL")


def test_the_root_links_the_feed(client):
    root = client.get("/accountApplications/", headers={"API-Key": API_KEY})
    assert root.json["_links"]["apiture:events"]["href"].endswith("/accountApplications/events")


def test_an_applicant_may_not_read_the_feed(user):
    assert user.get("/events").status_code == 403


def test_an_auditor_reads_the_feed(client, auditor, make_applications):
    make_applications(1)
    assert types(auditor) == ["application.created"]


def test_an_applicant_may_not_read_an_event(client, user, admin, make_applications):
    make_applications(1)
    event_id = all_events(admin)[0]["_id"]
    assert user.get(f"/events/{event_id}").status_code == 403


def test_an_event_is_found_at_its_self_link(client, admin, make_applications):
    make_applications(1)
    [event] = all_events(admin)
    again = admin.get(event["_links"]["self"]["href"])
    assert again.status_code == 200
    assert again.json == event


def test_an_unknown_event_is_404(admin):
    assert admin.get(f"/events/{uuid.uuid4()}").status_code == 404
    assert admin.get("/events/not-an-id").status_code == 404


def test_pages_follow_next_in_order_without_repeats(client, admin, make_applications):
    make_applications(5)
    everything = [e["_id"] for e in all_events(admin)]
    paged = [e["_id"] for e in all_events(admin, limit=2)]
    assert paged == everything and len(set(everything)) == 5


def test_the_feed_is_in_the_order_the_changes_were_made(client, admin, make_applications):
    made = make_applications(3)
    assert [e["resource"]["_id"] for e in all_events(admin)] == [m["_id"] for m in made]


def test_next_of_an_empty_page_is_the_same_cursor(client, admin, make_applications):
    make_applications(1)
    settle(admin)
    first = admin.get("/events")
    last = first.json["_embedded"]["items"][-1]["_id"]
    assert f"after={last}" in first.json["_links"]["next"]["href"]
    empty = admin.get(first.json["_links"]["next"]["href"])
    assert empty.json["_embedded"]["items"] == []
    assert f"after={last}" in empty.json["_links"]["next"]["href"]


def test_a_poller_sees_new_events_by_following_next(client, admin, make_applications):
    make_applications(1)
    settle(admin)
    cursor = admin.get("/events").json["_links"]["next"]["href"]
    assert admin.get(cursor).json["count"] == 0
    api = Api(client, headers_for("late", USER_SCOPES))
    api.post("/applications", REFERENCE_CREATE_BODY)
    settle(admin)
    page = admin.get(cursor).json
    assert [e["type"] for e in page["_embedded"]["items"]] == ["application.created"]


def test_the_feed_filters_by_types(client, admin, user, application):
    user.post(href(application.json, "apiture:cancel"))
    assert types(admin, type="application.canceled|application.approved") == [
        "application.canceled"]
    assert types(admin, type="application.*") == ["application.created", "application.canceled"]
    assert types(admin, type="enrollment.*") == []


def test_the_feed_filters_by_resource_id_or_uri(client, admin, make_applications):
    first, second = make_applications(2)
    assert [e["resource"]["_id"] for e in all_events(admin, resource=second["_id"])] == [
        second["_id"]]
    uri = first["_links"]["self"]["href"]
    assert [e["resource"]["_id"] for e in all_events(admin, resource=uri)] == [first["_id"]]


def test_the_filters_are_kept_in_the_links(client, admin, make_applications):
    make_applications(1)
    settle(admin)
    page = admin.get("/events", query_string={"type": "application.created", "limit": 5}).json
    assert "type=application.created" in page["_links"]["next"]["href"]
    assert "limit=5" in page["_links"]["next"]["href"]


def test_the_feed_says_how_far_back_it_reaches(client, admin, make_applications):
    make_applications(1)
    settle(admin)
    page = admin.get("/events").json
    assert page["retentionDays"] == 30
    assert page["earliestEventAt"] == page["_embedded"]["items"][0]["occurredAt"]


@pytest.mark.parametrize(("query", "status"), [
    ({"limit": "many"}, 400), ({"limit": "0"}, 422), ({"limit": "5000"}, 422),
    ({"type": "application approved"}, 400), ({"type": "application.approvedd"}, 422),
    ({"type": "account.*"}, 422), ({"after": "12"}, 400),
    ({"after": str(uuid.uuid4())}, 422), ({"resource": "/elsewhere/x"}, 400),
    ({"resource": "../.."}, 400),
])
def test_bad_feed_parameters_are_refused(admin, query, status):
    response = admin.get("/events", query_string=query)
    assert response.status_code == status, response.json


def test_an_unknown_cursor_says_what_to_do(admin):
    response = admin.get("/events", query_string={"after": str(uuid.uuid4())})
    assert response.json["_error"]["type"] == "unknownEvent"
    assert "remediation" in response.json["_error"]


def test_events_are_never_rewritten(app, client, make_applications):
    make_applications(1)
    with app.app_context(), db.database.connection_context(), pytest.raises(Exception,
                                                                          match="rewritten"):
        Event.update(reason="invented").execute()


def test_pruning_removes_events_older_than_the_retention_but_the_newest(
        app, client, admin, make_applications):
    made = make_applications(3)
    with app.app_context(), db.database.connection_context():
        assert events.prune(now=utcnow() + timedelta(days=31)) == 2
    assert [e["resource"]["_id"] for e in all_events(admin)] == [made[-1]["_id"]]


def test_new_events_follow_the_kept_newest_after_pruning(app, client, admin, make_applications):
    make_applications(2)
    newest = all_events(admin)[-1]["_id"]
    with app.app_context(), db.database.connection_context():
        events.prune(now=utcnow() + timedelta(days=31))
    make_applications(1, prefix="later")
    settle(admin)
    page = admin.get("/events", query_string={"after": newest}).json
    assert page["count"] == 1


def test_pruning_keeps_events_within_the_retention(app, client, admin, make_applications):
    make_applications(2)
    with app.app_context(), db.database.connection_context():
        assert events.prune(now=utcnow() + timedelta(days=29)) == 0
    assert len(all_events(admin)) == 2


# --- commit order under concurrency --------------------------------------------------

def _insert_event(conn, resource_id: str) -> str:
    event_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO event (id, type, occurred_at, resource_type, resource_id, revision, "
            "summary) VALUES (%s, 'application.updated', now(), 'application', %s, 2, "
            "'{\"state\": \"running\"}')", (event_id, resource_id))
    return event_id


@postgres_only
def test_an_event_committed_after_a_later_one_is_not_skipped(app, admin, database_url):
    early, late = psycopg2.connect(database_url), psycopg2.connect(database_url)
    try:
        first = _insert_event(early, "a")  # its transaction began first, commits last
        second = _insert_event(late, "b")
        late.commit()
        # Not before every earlier transaction has ended:
        assert all_events(admin, settled=False) == []
        early.commit()
        assert [e["_id"] for e in all_events(admin)] == [first, second]
    finally:
        early.close()
        late.close()


@postgres_only
def test_a_rolled_back_transaction_holds_nothing_back(app, admin, database_url):
    aborted, committed = psycopg2.connect(database_url), psycopg2.connect(database_url)
    try:
        _insert_event(aborted, "a")
        kept = _insert_event(committed, "b")
        committed.commit()
        aborted.rollback()
        assert [e["_id"] for e in all_events(admin)] == [kept]
    finally:
        aborted.close()
        committed.close()


@pytest.mark.slow
def test_a_poller_under_concurrent_writers_never_skips_or_repeats(gunicorn_server):
    server = gunicorn_server(workers=2, threads=4)
    admin = {"API-Key": API_KEY,
             "Authorization": f"Bearer {token('officer', 'admin/full banking/full')}"}
    writers_done = threading.Event()
    seen: list[str] = []
    errors: list[object] = []

    expected = 6 * 4 * 3
    give_up_at = time.monotonic() + 120

    def poll() -> None:
        cursor = "/events?limit=50"
        while True:
            finished = writers_done.is_set()
            reply = request(server.url, "GET", cursor, headers=admin)
            if reply.status != 200:
                errors.append(reply.body)
                return
            items = reply.body["_embedded"]["items"]
            seen.extend(item["_id"] for item in items)
            parts = urlsplit(reply.body["_links"]["next"]["href"])
            cursor = f"{parts.path}?{parts.query}"
            if finished and not items and (len(seen) >= expected
                                           or time.monotonic() > give_up_at):
                return  # (a write transaction elsewhere on the server may hold one back)
            time.sleep(0.005)

    def write(index: int) -> None:
        owner = {"API-Key": API_KEY,
                 "Authorization": f"Bearer {token(f'w{index}', USER_SCOPES)}"}
        for _round in range(4):
            created = request(server.url, "POST", "/applications", headers=owner,
                              json_body=REFERENCE_CREATE_BODY)
            if created.status != 201:
                errors.append(created.body)
                return
            app_id = created.body["_id"]
            request(server.url, "PATCH", f"/applications/{app_id}", headers={
                **owner, "If-Match": created.headers["ETag"]}, json_body={"accountName": "x"})
            request(server.url, "POST", f"/canceledApplications?application={app_id}",
                    headers=owner)

    poller = threading.Thread(target=poll)
    poller.start()
    writers = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    writers_done.set()
    poller.join(120)
    assert errors == []
    assert len(seen) == len(set(seen)) == expected
    everything = request(server.url, "GET", "/events?limit=1000", headers=admin).body
    assert [item["_id"] for item in everything["_embedded"]["items"]] == seen


def at_once(url: str, calls: list[tuple[str, dict[str, str]]]) -> list[int]:
    """POST each ``(path, headers)`` from its own thread, released together; the statuses."""
    barrier = threading.Barrier(len(calls))
    statuses = [0] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        path, headers = calls[index]
        statuses[index] = request(url, "POST", path, headers=headers).status

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


@pytest.mark.slow
def test_two_racing_transitions_have_one_winner_and_one_event(gunicorn_server):
    server = gunicorn_server(workers=3, threads=1)
    admin = {"API-Key": API_KEY,
             "Authorization": f"Bearer {token('officer', 'admin/full banking/full')}"}
    for index in range(5):
        owner = {"API-Key": API_KEY, "Authorization": f"Bearer {token(f'r{index}', USER_SCOPES)}"}
        created = request(server.url, "POST", "/applications", headers=owner,
                          json_body=REFERENCE_CREATE_BODY)
        app_id = created.body["_id"]
        replies = at_once(server.url, [
            (f"/canceledApplications?application={app_id}", owner),
            (f"/expiredApplications?application={app_id}", admin)])
        assert sorted(replies) == [200, 409], replies
        deadline = time.monotonic() + 30
        while True:  # a write transaction elsewhere on the server may hold the feed back
            feed = request(server.url, "GET", f"/events?resource={app_id}", headers=admin).body
            kinds = [item["type"] for item in feed["_embedded"]["items"]]
            if len(kinds) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert kinds[0] == "application.created"
        assert len(kinds) == 2 and kinds[1] in ("application.canceled", "application.expired")
