"""Races between gunicorn worker processes: the database decides, exactly one wins."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from conftest import ADMIN_SCOPES, API_KEY, REFERENCE_CREATE_BODY, SECRET, USER_SCOPES, token
from live_server import LiveServer, Reply, running_server

pytestmark = pytest.mark.slow

ROUNDS = 8
TERMINAL = {"approved", "canceled", "expired", "rejected"}


def auth(sub: str, scopes: str) -> dict[str, str]:
    return {"API-Key": API_KEY, "Authorization": f"Bearer {token(sub, scopes)}"}


ADMIN = auth("officer", ADMIN_SCOPES)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:
    database = tmp_path_factory.mktemp("race") / "race.db"
    settings = {
        "ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{database}",
        "ACCOUNTAPPS_API_KEYS": API_KEY,
        "ACCOUNTAPPS_JWT_SECRET": SECRET,
        "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
        "ACCOUNTAPPS_LINK_HOSTS": "www.example.com",  # the reference body's platform
    }
    with running_server(settings, workers=3) as live:
        yield live


def at_once(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run ``calls`` in threads released together; return their replies in order."""
    barrier = threading.Barrier(len(calls))
    replies: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            replies[index] = calls[index]()
        except BaseException as exc:  # reported by the assertion below
            replies[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(reply, Reply) for reply in replies), replies
    return replies


def create(server: LiveServer, owner: dict[str, str]) -> Reply:
    reply = server.request("POST", "/applications", headers=owner, json_body=REFERENCE_CREATE_BODY)
    assert reply.status == 201, reply.body
    return reply


def terminal_records(server: LiveServer, app_id: str) -> list[dict]:
    trail = server.request("GET", f"/applications/{app_id}/auditRecords", headers=ADMIN)
    assert trail.status == 200, trail.body
    return [item for item in trail.body["_embedded"]["items"] if item["to"] in TERMINAL]


@pytest.mark.parametrize("send_if_match", [False, True], ids=["no-if-match", "if-match"])
def test_approve_and_cancel_at_once_exactly_one_wins(server, send_if_match):
    for index in range(ROUNDS):
        owner = auth(f"racer-{send_if_match}-{index}", USER_SCOPES)
        created = create(server, owner)
        app_id = created.body["_id"]
        extra = {"If-Match": created.headers["ETag"]} if send_if_match else {}
        approve, cancel = at_once([
            partial(server.request, "POST", f"/approvedApplications?application={app_id}",
                    headers={**ADMIN, **extra}),
            partial(server.request, "POST", f"/canceledApplications?application={app_id}",
                    headers={**owner, **extra}),
        ])
        statuses = sorted([approve.status, cancel.status])
        assert statuses[0] == 200 and statuses[1] in (409, 412), (approve.body, cancel.body)
        winner = "approved" if approve.status == 200 else "canceled"
        final = server.request("GET", f"/applications/{app_id}", headers=ADMIN).body
        assert final["state"] == winner
        records = terminal_records(server, app_id)
        assert [record["to"] for record in records] == [winner]


def test_concurrent_patches_with_the_same_etag_exactly_one_succeeds(server):
    owner = auth("patcher", USER_SCOPES)
    created = create(server, owner)
    url = created.headers["Location"]
    tag = created.headers["ETag"]
    writers = 6
    replies = at_once([
        partial(server.request, "PATCH", url, headers={**owner, "If-Match": tag},
                json_body={"accountName": f"writer {n}"})
        for n in range(writers)
    ])
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] + [412] * (writers - 1), [r.body for r in replies]
    winner = next(reply for reply in replies if reply.status == 200)
    final = server.request("GET", url, headers=owner)
    assert final.body["accountName"] == winner.body["accountName"]
    assert final.headers["ETag"] == winner.headers["ETag"]


def test_concurrent_creates_by_one_user_make_exactly_one_application(server):
    owner = auth("eager", USER_SCOPES)
    replies = at_once([
        partial(server.request, "POST", "/applications", headers=owner,
                json_body=REFERENCE_CREATE_BODY)
        for _ in range(4)
    ])
    assert sorted(reply.status for reply in replies) == [201, 409, 409, 409]
    listing = server.request("GET", "/applications", headers=owner)
    assert listing.body["count"] == 1
