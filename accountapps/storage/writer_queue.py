"""SQLite's writers wait their turn in the kernel, not in SQLite's busy handler.

SQLite allows one writer at a time. A worker that finds the write lock taken
gets ``SQLITE_BUSY`` and SQLite's busy handler sleeps 1, 2, 5, 10 ... ms
between tries, although the lock is held for well under a millisecond: under
concurrent creates the waiting worker slept through most of the time the lock
was free (the CPU sat idle). An exclusive ``flock`` on a file
beside the database queues the writers of every worker process instead, and the
kernel wakes the next one the moment the lock is released.

The queue only orders writers; SQLite's own lock still decides, so another
program writing to the database (the ``sqlite3`` shell, a backup) is still
waited for by ``busy_timeout``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


class WriterQueue:
    """An exclusive lock on ``<database>-writers``, held around each write transaction.

    Reentrant within a thread (a nested write transaction is a savepoint of the
    outer one and already holds the lock). Each thread opens the file itself:
    ``flock`` belongs to an open file description, so threads sharing one would
    all "hold" it at once; a forked child opens its own for the same reason.
    """

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}-writers"
        self._local = threading.local()
        self._broken = False

    def _local_state(self) -> threading.local:
        """This thread's descriptor and depth; a forked child starts afresh."""
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            return local
        if getattr(local, "fd", None) is not None:
            os.close(local.fd)  # the parent's; closing it here leaves the parent's lock be
        local.fd, local.depth, local.pid = None, 0, os.getpid()
        if not self._broken:
            try:
                local.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                # E.g. a read-only directory: writers fall back to SQLite's busy handler.
                self._broken = True
                log.warning("writer queue unavailable, using SQLite's busy handler",
                            extra={"path": self.path, "error": str(exc)})
        return local

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until no other writer using this queue is writing, then write."""
        local = self._local_state()
        depth = local.depth
        fd = None if depth else local.fd
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        local.depth = depth + 1
        try:
            yield
        finally:
            local.depth = depth
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
