"""A worker whose threads all run a request leaves new connections to the other workers."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import API_KEY, SECRET, headers_for
from live_server import RestartableServer, request

from accountapps import create_app
from accountapps.storage import db
from bench.loadgen import USER_SCOPES, create_body

pytestmark = [pytest.mark.slow, pytest.mark.own_database]


@pytest.fixture
def two_workers_of_one_thread(tmp_path) -> Iterator[tuple[RestartableServer, str]]:
    database = tmp_path / "db.sqlite"
    settings = {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{database}",
                "ACCOUNTAPPS_API_KEYS": API_KEY, "ACCOUNTAPPS_JWT_SECRET": SECRET,
                "ACCOUNTAPPS_LOG_LEVEL": "WARNING", "ACCOUNTAPPS_LINK_HOSTS": "www.example.com"}
    create_app(settings)  # migrated here: a worker that migrates at start-up waits for the turn
    db.close_all()
    server = RestartableServer({**settings, "ACCOUNTAPPS_AUTO_MIGRATE": "0"},
                               workers=2, threads=1, log_dir=tmp_path)
    server.start()
    try:
        yield server, str(database)
    finally:
        server.stop()


def test_new_connections_go_to_the_free_worker_while_the_others_thread_waits(
        two_workers_of_one_thread):
    server, database = two_workers_of_one_thread
    # Holding the writers' turn makes a create wait for it in its worker's thread.
    turn = os.open(f"{database}-writers", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(turn, fcntl.LOCK_EX)
    created: list[int] = []
    waiting = threading.Thread(target=lambda: created.append(request(
        server.url, "POST", "/applications", json_body=create_body(1),
        headers=headers_for("busy-worker", USER_SCOPES), timeout=60).status))
    try:
        waiting.start()
        time.sleep(1.0)  # the create reaches a thread, which waits for the turn
        statuses = [request(server.url, "GET", "/health/live", timeout=5).status
                    for _ in range(20)]
        still_waiting = waiting.is_alive()  # its worker's thread was taken all along
    finally:
        fcntl.flock(turn, fcntl.LOCK_UN)
        os.close(turn)
        waiting.join(timeout=60)
    assert still_waiting
    assert statuses == [200] * 20
    assert created == [201]
