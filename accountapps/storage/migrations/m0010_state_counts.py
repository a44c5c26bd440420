"""Trigger-kept counts of applications per state, for the work queue's count (issue 8).

Idempotent: the counters are recounted and the triggers replaced or created if missing.
"""

from peewee import Database

from accountapps.storage.row_counts import install


def upgrade(db: Database) -> None:
    install(db, "application")
