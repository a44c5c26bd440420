"""Reading the event feed in tests, on a database server others write to as well.

On PostgreSQL an event enters the feed once every older write transaction on
the server has ended (storage/event_log.py); on a shared test server another
session's transaction may hold it back for a moment. :func:`settle` waits until
the feed shows every committed event, so a test then sees all of them.
"""

from __future__ import annotations

import time
from typing import Any

import databases

from accountapps.storage import db
from accountapps.storage.models import Event


def read_feed(admin: Any, **query: Any) -> list[dict]:
    """Every event the feed shows now (following next until a page is empty)."""
    seen: list[dict] = []
    response = admin.get("/events", query_string={"limit": 1000, **query})
    while True:
        assert response.status_code == 200, response.json
        items = response.json["_embedded"]["items"]
        if not items:
            return seen
        seen.extend(items)
        response = admin.get(response.json["_links"]["next"]["href"])


def settle(admin: Any, timeout: float = 30.0) -> None:
    """Wait until the feed shows every committed event (PostgreSQL; SQLite at once)."""
    if databases.BACKEND != "postgresql":
        return
    app = admin.client.application
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context(), db.database.connection_context():
            stored = Event.select().count()
        if len(read_feed(admin)) >= stored:
            return
        assert time.monotonic() < deadline, "the feed did not catch up"
        time.sleep(0.05)


def all_events(admin: Any, *, settled: bool = True, **query: Any) -> list[dict]:
    """Every event of the feed (``settled``: once it shows every committed event)."""
    if settled:
        settle(admin)
    return read_feed(admin, **query)


def types(admin: Any, **query: Any) -> list[str]:
    return [event["type"] for event in all_events(admin, **query)]
