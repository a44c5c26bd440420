"""One cheaper trigger keeps the application counts on PostgreSQL (issue 8).

Replaces the two triggers of migrations 0009 and 0010 (see
:func:`accountapps.storage.row_counts.install_triggers`). The counters themselves are
unchanged, so nothing is recounted. Idempotent; on SQLite nothing changes.
"""

from peewee import Database

from accountapps.storage.row_counts import install_triggers


def upgrade(db: Database) -> None:
    install_triggers(db, "application")
