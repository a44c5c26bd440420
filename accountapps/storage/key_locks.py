"""Which keys are being worked on right now, across the worker processes of one host.

An idempotency key's request holds a lock on its key while it executes, so
that a repeat arriving meanwhile is told so at once instead of executing again
or waiting. On SQLite, whose workers share one host, these are the only locks;
on PostgreSQL they are the provisional run's (see
:mod:`accountapps.storage.idempotency`), which costs no round trip. A key is a
byte of a file (``<database>-keys``, or for PostgreSQL a file per database in
the temporary directory), locked with an open file description lock
(``F_OFD_SETLK``): it never waits, belongs to one thread's descriptor (threads
of one worker exclude each other, as processes do), and the kernel drops it
when its holder dies, so a crashed worker leaves no key locked.

Where there are no such locks (a system other than Linux, an in-memory
database), the keys are locked within the process only; the database's unique
index still refuses a second stored answer.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading

log = logging.getLogger(__name__)

#: Byte offsets span 62 bits: a lock's end stays within ``off_t``.
_OFFSETS = (1 << 62) - 1
_OFD = getattr(fcntl, "F_OFD_SETLK", None)


def _flock(kind: int, offset: int) -> bytes:
    """A ``struct flock`` for one byte at ``offset`` (``l_pid`` 0, as OFD locks need)."""
    return struct.pack("hhqqixxxx", kind, os.SEEK_SET, offset, 1, 0)


class KeyLocks:
    """Locks that are taken without waiting, each named by a 64-bit number."""

    def __init__(self, database_path: str | None) -> None:
        self.path = f"{database_path}-keys" if database_path and _OFD is not None else None
        self._local = threading.local()
        self._held: set[int] = set()  # without OFD locks: this process's
        self._mutex = threading.Lock()

    def _descriptor(self) -> int | None:
        """This thread's descriptor of the lock file (a forked child opens its own)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.fd, local.pid = None, os.getpid()  # a parent's descriptor is left alone
            if self.path is not None:
                try:
                    local.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                except OSError as exc:
                    log.warning("key locks unavailable, locking within the process",
                                extra={"path": self.path, "error": str(exc)})
                    self.path = None
        return local.fd

    def try_lock(self, name: int) -> bool:
        """Lock ``name`` unless someone holds it; True when this thread now holds it."""
        offset = name & _OFFSETS
        fd = self._descriptor()
        if fd is None:
            with self._mutex:
                if offset in self._held:
                    return False
                self._held.add(offset)
                return True
        try:
            fcntl.fcntl(fd, _OFD, _flock(fcntl.F_WRLCK, offset))
        except OSError:  # EAGAIN or EACCES: another descriptor holds it
            return False
        return True

    def unlock(self, name: int) -> None:
        """Release ``name``, which this thread holds."""
        offset = name & _OFFSETS
        fd = self._descriptor()
        if fd is None:
            with self._mutex:
                self._held.discard(offset)
            return
        fcntl.fcntl(fd, _OFD, _flock(fcntl.F_UNLCK, offset))
