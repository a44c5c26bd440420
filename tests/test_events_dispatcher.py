"""The dispatcher as operators run it: a process that may be killed, and several at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import databases
import pytest
from events_support import all_events
from test_events_delivery import subscribe

from accountapps.storage import db
from accountapps.storage.models import WebhookDelivery

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE": "1",
            "ACCOUNTAPPS_WEBHOOK_TIMEOUT": "0.5"}


@pytest.fixture
def dispatchers(app_settings, tmp_path):
    """Start ``flask events deliver`` processes: ``start(*options)``; all stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(*options: str) -> subprocess.Popen:
        env = {**os.environ, **{k: str(v) for k, v in app_settings.items()},
               "PYTHONPATH": str(ROOT)}
        log = open(tmp_path / f"dispatcher-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "events", "deliver",
             "--interval", "0.05", *options],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        process.log = Path(log.name)  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def event_ids(admin) -> set[str]:
    return {event["_id"] for event in all_events(admin)}


def test_a_dispatcher_killed_mid_batch_loses_nothing(app, admin, receiver, dispatchers,
                                                     make_applications):
    subscribe(admin, receiver)
    make_applications(12)
    receiver.delay = 0.1
    first = dispatchers("--workers", "1", "--batch", "50", "--lease", "3")
    receiver.wait_for(3)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert len(set(receiver.delivered_ids())) < 12  # killed mid-batch
    dispatchers("--workers", "1", "--batch", "50", "--lease", "3")
    receiver.wait_for(12, timeout=60)
    assert set(receiver.delivered_ids()) == event_ids(admin)
    assert all(arrival.verified for arrival in receiver.arrivals)
    deadline = time.monotonic() + 10
    with app.app_context(), db.database.connection_context():
        while WebhookDelivery.select().where(WebhookDelivery.status != "delivered").count():
            assert time.monotonic() < deadline
            time.sleep(0.05)


@pytest.mark.skipif(databases.BACKEND != "postgresql", reason="several dispatchers: PostgreSQL")
def test_two_dispatchers_never_deliver_one_event_twice_at_once(admin, receiver, dispatchers,
                                                              make_applications):
    subscribe(admin, receiver)
    make_applications(30)
    receiver.delay = 0.05
    dispatchers("--workers", "4", "--batch", "8")
    dispatchers("--workers", "4", "--batch", "8")
    receiver.wait_for(30, timeout=60)
    time.sleep(0.3)  # anything sent twice would have arrived by now
    assert sorted(receiver.delivered_ids()) == sorted(event_ids(admin))
    assert receiver.most_in_flight_per_id == 1


def test_the_dispatcher_stops_on_sigterm(dispatchers):
    process = dispatchers()
    deadline = time.monotonic() + 30
    while b"delivering events" not in process.log.read_bytes():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(15) == 0
