"""SQLite's writers: queued in the kernel, and small pages.

SQLite has one writer at a time; a worker that finds the write lock taken
would sleep in SQLite's busy handler (1, 2, 5 ... ms) while the lock is free
again within a millisecond. ``writer_queue.WriterQueue`` queues the write
transactions of every worker on a ``flock`` instead. These tests need a SQLite
file; on the suite's PostgreSQL run they skip.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from accountapps.storage import db
from accountapps.storage.writer_queue import WriterQueue


@pytest.fixture
def sqlite_app(app):
    if not db.is_sqlite():
        pytest.skip("the writer queue and page size are SQLite's (run the suite on SQLite)")
    return app


@pytest.fixture
def queue_file(sqlite_app) -> Iterator[int]:
    """A descriptor of the queue's file of its own, as another worker process has."""
    fd = os.open(db.database.obj.writer_queue.path, os.O_RDWR | os.O_CREAT)
    yield fd
    os.close(fd)


def locked_elsewhere(fd: int) -> bool:
    """True when some other open file holds the queue's lock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def test_the_queue_file_lies_beside_the_database(sqlite_app):
    database = db.database.obj
    assert database.writer_queue.path == f"{database.database}-writers"


def test_a_write_transaction_holds_the_queue_until_it_ends(queue_file):
    with db.database.connection_context():
        with db.write_transaction():
            assert locked_elsewhere(queue_file)
        assert not locked_elsewhere(queue_file)


def test_a_nested_write_transaction_keeps_the_queue_until_the_outer_one_ends(queue_file):
    with db.database.connection_context(), db.write_transaction():
        with db.write_transaction():
            pass
        assert locked_elsewhere(queue_file)


def test_a_failed_write_transaction_gives_up_its_turn(queue_file):
    with db.database.connection_context():
        with pytest.raises(RuntimeError), db.write_transaction():
            raise RuntimeError("the write failed")
        assert not locked_elsewhere(queue_file)


def test_a_reader_does_not_wait_for_the_queue(sqlite_app, user, application, queue_file):
    fcntl.flock(queue_file, fcntl.LOCK_EX)  # another worker is writing
    try:
        response = user.get(f"/applications/{application.json['_id']}")
    finally:
        fcntl.flock(queue_file, fcntl.LOCK_UN)
    assert response.status_code == 200


def test_a_writer_waits_for_the_one_ahead_of_it(tmp_path):
    queue = WriterQueue(str(tmp_path / "app.db"))
    events: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with queue.turn():
            events.append("first in")
            first_in.set()
            time.sleep(0.2)
            events.append("first out")

    def second() -> None:
        first_in.wait()
        with queue.turn():
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert events == ["first in", "first out", "second in"]


def test_a_forked_worker_waits_for_its_parents_turn(tmp_path):
    """A child must not share the parent's lock (flock belongs to the open file)."""
    queue = WriterQueue(str(tmp_path / "app.db"))
    with queue.turn():
        pid = os.fork()
        if pid == 0:  # the child, forked mid-turn: its own turn must wait
            signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with queue.turn():
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_unusable_queue_file_leaves_writers_to_sqlite(tmp_path, caplog):
    queue = WriterQueue(str(tmp_path / "missing-directory" / "app.db"))
    with queue.turn():
        pass
    assert "writer queue unavailable" in caplog.text


def test_a_new_database_has_2_kib_pages(sqlite_app):
    path = db.database.obj.database
    assert sqlite3.connect(path).execute("PRAGMA page_size").fetchone() == (2048,)


def test_an_existing_database_keeps_its_page_size(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE t (x)")
    old.close()
    database = db.make_database(f"sqlite:///{path}")
    database.connect()
    try:
        assert database.execute_sql("PRAGMA page_size").fetchone() == (4096,)
    finally:
        database.close()


def test_a_new_database_turned_to_wal_while_another_process_writes_to_it_waits(tmp_path):
    # Two gunicorn workers starting on a new file: one migrates, the other connects.
    path = tmp_path / "new.db"
    migrating = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    migrating.execute("BEGIN IMMEDIATE")
    migrating.execute("CREATE TABLE t (x)")
    threading.Timer(0.3, migrating.execute, ["COMMIT"]).start()
    database = db.make_database(f"sqlite:///{path}")
    database.connect()
    try:
        assert database.execute_sql("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        database.close()
        migrating.close()
