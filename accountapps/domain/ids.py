"""Identifiers of new resources: time-ordered UUIDs (version 7, RFC 9562).

A random UUID (version 4) lands a new row's key on a random leaf of every
index keyed by it: the primary key, the applicant and audit tables' indexes of
the application. At a million rows each such leaf is one more page written per
create (on PostgreSQL a full-page image after each checkpoint). A version 7
UUID starts with the millisecond of its creation, so new keys append to the
last leaf: a create at a million rows writes much less WAL and takes less
time than with version 4 (``pg_current_wal_lsn`` shows it). The other 74 bits
are random, so an id is as hard to guess as
before; the creation time it reveals is in the representation anyway
(``createdAt``).
"""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A new resource id: a version 7 UUID, as its canonical string."""
    # 80 random bits in one system call
    return uuid7(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10)))


def uuid7(milliseconds: int, random: int) -> str:
    """The version 7 UUID of Unix time ``milliseconds`` and 74 of ``random``'s bits,
    as its canonical string (a seeded database's ids are made at their rows' times)."""
    milliseconds &= (1 << 48) - 1
    value = ((milliseconds << 80)                  # 48 bits: Unix time in milliseconds
             | (0x7 << 76)                         # 4 bits: version 7
             | (((random >> 68) & 0xFFF) << 64)    # 12 random bits
             | (0b10 << 62)                        # 2 bits: the RFC 9562 variant
             | (random & ((1 << 62) - 1)))         # 62 random bits
    digits = f"{value:032x}"
    # The canonical form, written directly (uuid.UUID validates and formats in Python).
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
