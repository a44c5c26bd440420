"""A trigger-kept row count of applications, for unfiltered pages (issue 8).

Idempotent: the counter is recounted and the triggers created only if missing.
"""

from peewee import Database

from accountapps.storage.row_counts import install


def upgrade(db: Database) -> None:
    install(db, "application")
