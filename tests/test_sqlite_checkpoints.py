"""SQLite's WAL is checkpointed by a thread of each process, not in a writer's turn.

SQLite's own checkpoint runs inside the ``COMMIT`` that crossed its
threshold, while that writer still holds the writers' turn: every other
writer of the host waits for the copy and the syncs. ``storage.checkpoints``
moves that work to a thread. These tests build SQLite files of their own.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accountapps.storage import db
from accountapps.storage.checkpoints import BACKSTOP_PAGES, Checkpointer

pytestmark = pytest.mark.own_database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    """A SQLite file in WAL mode, as the service opens it, with a table ``t``."""
    database = db.make_database(f"sqlite:///{tmp_path / 'w.db'}")
    database.connect()
    database.execute_sql("CREATE TABLE t (x)")
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the table in the file itself
    yield database
    database.checkpointer.close()
    database.close()


def write(database: Any, value: Any) -> None:
    """One write transaction, in its turn, as the service writes."""
    with database.writer_queue.turn(), database.atomic("IMMEDIATE"):
        database.execute_sql("INSERT INTO t VALUES (?)", [value])


def in_main_file(database: Any, tmp_path: Path) -> list[Any]:
    """The rows of ``t`` in the database file alone (what a checkpoint copied there)."""
    copy = tmp_path / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(database.database, copy)  # without the WAL beside it
    connection = sqlite3.connect(copy)
    try:
        return [row[0] for row in connection.execute("SELECT x FROM t")]
    finally:
        connection.close()


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_a_commit_reaches_the_database_file_by_the_processs_thread(database, tmp_path):
    write(database, "committed")
    assert eventually(lambda: "committed" in in_main_file(database, tmp_path))


def test_a_writer_never_checkpoints_below_the_backstop(database, tmp_path, monkeypatch):
    assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
    database.checkpointer.close()
    monkeypatch.setattr(database.writer_queue, "after_turn", None)
    for _index in range(600):  # past SQLite's default threshold of 1000 pages
        write(database, os.urandom(3000))
    assert in_main_file(database, tmp_path) == []


def test_a_closed_thread_ends_and_the_next_write_starts_another(database, tmp_path):
    write(database, "first")
    thread = database.checkpointer._thread
    assert thread is not None and thread.is_alive()
    database.checkpointer.close()
    assert not thread.is_alive()
    write(database, "second")
    assert eventually(lambda: "second" in in_main_file(database, tmp_path))
    assert database.checkpointer._thread is not thread


def test_a_database_held_to_itself_by_another_connection_is_checkpointed_once_let_go(
        database, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="accountapps.storage.checkpoints")
    write(database, "before")
    database.checkpointer.close()
    database.close()
    holder = sqlite3.connect(database.database, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES ('held')")  # keeps the file to itself from now on
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        database.checkpointer.checkpoint()
    database.checkpointer.wrote()  # the thread meets the same lock: it waits for the next write
    time.sleep(0.3)
    assert database.checkpointer._thread.is_alive()
    holder.close()
    database.connect()
    write(database, "after")
    assert eventually(lambda: "after" in in_main_file(database, tmp_path))
    assert not caplog.records


def test_a_forked_child_checkpoints_with_a_thread_of_its_own(database, tmp_path):
    write(database, "parent")
    database.close()  # a child never uses its parent's connection
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's outcome is its exit status)
        status = 1
        try:
            database.connect()
            write(database, "child")
            if eventually(lambda: "child" in in_main_file(database, tmp_path)):
                status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_thread_of_an_idle_process_ends(database, monkeypatch):
    monkeypatch.setattr("accountapps.storage.checkpoints.IDLE_SECONDS", 0.2)
    database.checkpointer.close()
    write(database, "once")
    thread = database.checkpointer._thread
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert database.checkpointer._thread is None


def test_a_checkpoint_copies_the_wal_into_the_database(tmp_path):
    path = tmp_path / "c.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
    busy, pages, copied = Checkpointer(str(path)).checkpoint()
    connection.close()
    assert (busy, copied) == (0, pages) and pages > 0


def test_a_checkpoint_never_creates_a_database_that_was_removed(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="accountapps.storage.checkpoints")
    checkpointer = Checkpointer(str(tmp_path / "removed.db"))
    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        checkpointer.checkpoint()
    checkpointer.wrote()  # the thread meets the same: quietly, nothing to copy
    time.sleep(0.1)
    checkpointer.close()
    assert not (tmp_path / "removed.db").exists()
    assert not caplog.records
