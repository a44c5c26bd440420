"""SQLite's WAL is copied into the database by a thread of each process, never
by a writer during its turn.

Left to itself, SQLite checkpoints in the ``COMMIT`` that takes the WAL past
``wal_autocheckpoint`` pages: that request copies the WAL into the database
and syncs both files, for milliseconds, while it still holds the writers'
turn (:class:`~.writer_queue.WriterQueue`), so every other writer of the host
waits with the cores idle. The service raises that threshold so far that it
serves only as a backstop (:data:`BACKSTOP_PAGES`, for writes that bypass the
queue, such as a bulk seed), and each process checkpoints instead from a
thread of its own, after its writers' turns, at most every
:data:`INTERVAL_SECONDS`. A ``PASSIVE`` checkpoint waits for no reader or
writer and blocks none; the writers go on appending to the WAL meanwhile.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: SQLite's own checkpoint still runs past this many WAL pages (a writer that
#: bypasses the queue, say a bulk load, would otherwise grow the WAL unbounded).
BACKSTOP_PAGES = 50_000
#: A process checkpoints at most this often while it writes.
INTERVAL_SECONDS = 0.2
#: A thread with nothing to do for this long closes its connection and ends
#: (a process that stopped writing, or a test's database, keeps no thread).
IDLE_SECONDS = 30.0


class Checkpointer:
    """Checkpoints one SQLite database's WAL from a thread of this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()

    def wrote(self) -> None:
        """A writer's turn ended and the WAL may have grown (cheap: the thread does the work)."""
        if self._pid != os.getpid():
            # A forked child: the parent's thread and lock state are not its own.
            self._lock, self._pid, self._thread = threading.Lock(), os.getpid(), None
        thread = self._thread
        if thread is None or not thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._wake, self._stop = threading.Event(), threading.Event()
                    self._thread = threading.Thread(
                        target=self._run, args=(self._wake, self._stop),
                        name="sqlite-checkpoint", daemon=True)
                    self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """End this process's thread, after the checkpoint it may be running (a
        later write starts another); e.g. before a fork or a change of journal mode."""
        if self._pid != os.getpid():
            return
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join(timeout=10)

    def _run(self, wake: threading.Event, stop: threading.Event) -> None:
        last = 0.0
        while True:
            if not wake.wait(IDLE_SECONDS):
                with self._lock:
                    if not wake.is_set():  # idle: end (the next write starts another)
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
            if stop.is_set():
                return
            pause = last + INTERVAL_SECONDS - time.monotonic()
            if pause > 0 and stop.wait(pause):
                return
            wake.clear()  # the writes so far are in the WAL this checkpoint copies
            try:
                self.checkpoint()
            except sqlite3.OperationalError as exc:
                # Another connection holds the database to itself (a change of
                # journal mode, say): nothing to copy now, the next write retries.
                # Or the file is gone (removed with its directory): nothing to copy.
                if not any(word in str(exc) for word in ("locked", "busy", "unable to open")):
                    log.warning("WAL checkpoint failed", exc_info=True,
                                extra={"path": self.path})
            except Exception:
                log.warning("WAL checkpoint failed", exc_info=True, extra={"path": self.path})
            last = time.monotonic()

    def checkpoint(self) -> tuple[int, int, int]:
        """One ``PASSIVE`` checkpoint now: (busy, pages in the WAL, pages copied).

        On a connection of its own, closed at once: an open one would stop
        others from changing the journal mode. Opened read-write, never
        created: a database removed meanwhile is not brought back empty."""
        uri = f"{Path(self.path).absolute().as_uri()}?mode=rw"
        connection = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
        try:
            # Read to the end: a statement left open keeps a read lock, and the
            # WAL could never start over.
            [(busy, pages, copied)] = connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            connection.close()
        return busy, pages, copied
